package watch

import (
	"log/slog"

	"google.golang.org/grpc"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/edge/state"
)

// NewDeployments returns a follower of the deploytracker's deployment
// stream into st, on conn, which must carry the edge's key.
func NewDeployments(conn grpc.ClientConnInterface, st *state.Store, scope Scope, log *slog.Logger) *Follower {
	return newFollower(feed[deploytrackerv1.WatchDeploymentsRequest, deploytrackerv1.WatchDeploymentsResponse]{
		name:  "deployments",
		watch: deploytrackerv1.NewDeploymentDistributionServiceClient(conn).WatchDeployments,
		collect: func(m *deploytrackerv1.WatchDeploymentsResponse, into *state.Snapshot) {
			dep := convertDeployment(m.GetSnapshotItem())
			into.Deployments[keyOf(dep)] = dep
		},
		install: func(next, collected *state.Snapshot) { next.Deployments = collected.Deployments },
		apply:   func(m *deploytrackerv1.WatchDeploymentsResponse) { applyDeployment(st, m.GetChange()) },
	}, st, scope, log)
}

func applyDeployment(st *state.Store, ch *deploytrackerv1.DeploymentChange) {
	st.Update(func(next *state.Snapshot) {
		// A deployment is keyed by where it is served; find it by id for a
		// delete, which carries no body.
		for k, old := range next.Deployments {
			if old.ID == ch.GetDeploymentId() {
				delete(next.Deployments, k)
			}
		}
		if ch.GetType() == deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED {
			dep := convertDeployment(ch.GetDeployment())
			next.Deployments[keyOf(dep)] = dep
		}
	})
}

func keyOf(d *state.Deployment) state.Key {
	return state.Key{Account: d.Account, Project: d.Project, Environment: d.Environment}
}

func convertDeployment(p *deploytrackerv1.Deployment) *state.Deployment {
	d := &state.Deployment{ID: p.GetId(), Account: p.GetAccount(), Project: p.GetProject(), Environment: p.GetEnvironment(),
		EnvironmentType: p.GetEnvironmentType(), Generation: p.GetGeneration(), Revision: p.GetRevision()}
	for _, r := range p.GetRoutes() {
		d.Routes = append(d.Routes, state.Route{Path: r.GetPath(), Methods: r.GetMethods(), Handler: r.GetHandler(),
			BaseURL: r.GetBaseUrl(), RewritePattern: r.GetRewritePattern(),
			MTLSCertificateID: r.GetMtlsCertificateId(), MTLSCertificateName: r.GetMtlsCertificateName(),
			CACertificateID: r.GetCaCertificateId(), CACertificateName: r.GetCaCertificateName()})
		d.Routes[len(d.Routes)-1].Prepare()
	}
	return d
}
