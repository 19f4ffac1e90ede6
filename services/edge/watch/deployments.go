package watch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/edge/state"
)

// Deployments follows the deploytracker's deployment stream into a
// state.Store.
type Deployments struct {
	client deploytrackerv1.DeploymentDistributionServiceClient
	store  *state.Store
	scope  Scope
	log    *slog.Logger
	t      tracker
}

// NewDeployments returns a follower on conn, which must carry the edge's key.
func NewDeployments(conn grpc.ClientConnInterface, st *state.Store, scope Scope, log *slog.Logger) *Deployments {
	d := &Deployments{client: deploytrackerv1.NewDeploymentDistributionServiceClient(conn), store: st, scope: scope, log: log}
	d.t.s.Name = "deployments"
	return d
}

// Status reports the stream's progress.
func (d *Deployments) Status() Status { return d.t.get() }

// Run follows the stream until ctx ends.
func (d *Deployments) Run(ctx context.Context) error { return follow(ctx, d.log, &d.t, d.session) }

func (d *Deployments) session(ctx context.Context, from uint64) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := d.client.WatchDeployments(ctx, &deploytrackerv1.WatchDeploymentsRequest{
		FromRevision: from, Epoch: d.t.get().Epoch, Account: d.scope.Account, Project: d.scope.Project, EnvironmentType: d.scope.EnvironmentType,
	})
	if err != nil {
		return from, err
	}
	rev := from
	var snapshot map[state.Key]*state.Deployment
	for {
		ev, err := stream.Recv()
		if err != nil {
			return rev, err
		}
		d.t.update(func(s *Status) { s.Connected, s.LastEvent, s.KeyRefused = true, time.Now(), false })
		switch e := ev.GetEvent().(type) {
		case *deploytrackerv1.WatchDeploymentsResponse_Resync:
			d.log.Info("deployment stream resync", slog.String("reason", e.Resync.GetReason()))
			snapshot = map[state.Key]*state.Deployment{}
			d.t.update(func(s *Status) { s.Resyncs++ })
		case *deploytrackerv1.WatchDeploymentsResponse_SnapshotItem:
			if snapshot == nil {
				return rev, fmt.Errorf("%w: snapshot item outside a snapshot", errProtocol)
			}
			dep := convertDeployment(e.SnapshotItem)
			snapshot[keyOf(dep)] = dep
		case *deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete:
			if snapshot == nil {
				return rev, fmt.Errorf("%w: snapshot end without a snapshot", errProtocol)
			}
			d.store.Update(func(next *state.Snapshot) { next.Deployments = snapshot })
			rev, snapshot = e.SnapshotComplete.GetRevision(), nil
			d.t.update(func(s *Status) { s.Revision, s.Epoch, s.Synced = rev, e.SnapshotComplete.GetEpoch(), true })
		case *deploytrackerv1.WatchDeploymentsResponse_Change:
			if snapshot != nil {
				return rev, fmt.Errorf("%w: change inside a snapshot", errProtocol)
			}
			d.apply(e.Change)
			rev = e.Change.GetRevision()
			d.t.update(func(s *Status) { s.Revision, s.Synced = rev, true })
		case *deploytrackerv1.WatchDeploymentsResponse_Heartbeat:
			if err := sameEpoch(d.t.get().Epoch, e.Heartbeat.GetEpoch(), snapshot != nil); err != nil {
				return rev, err
			}
			if snapshot == nil && e.Heartbeat.GetRevision() > rev {
				rev = e.Heartbeat.GetRevision()
			}
			d.t.update(func(s *Status) { s.Revision, s.Synced = rev, true })
		}
	}
}

func (d *Deployments) apply(ch *deploytrackerv1.DeploymentChange) {
	d.store.Update(func(next *state.Snapshot) {
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
