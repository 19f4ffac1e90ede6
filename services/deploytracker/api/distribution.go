package api

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/stream"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// Distribution serves DeploymentDistributionService: the deployment change
// stream, for edges. The protocol and the scope policy are
// stream.Server's; deploymentCodec says how a deployment is sent.
type Distribution struct {
	deploytrackerv1.UnimplementedDeploymentDistributionServiceServer
	srv *stream.Server[store.Entry, *store.Deployment, *deploytrackerv1.Deployment, *deploytrackerv1.WatchDeploymentsResponse]
}

// NewDistribution returns the DeploymentDistributionService handlers for a
// store whose last committed revision is head; the store's publisher must
// call Publish. admit bounds the open streams.
func NewDistribution(st DeploymentFeed, head uint64, opts changefeed.Options, admit *changefeed.Admission, url URLs, log *slog.Logger) *Distribution {
	codec := deploymentCodec{store: st, url: url, damaged: &damageLog{log: log}}
	return &Distribution{srv: stream.NewServer(st, codec, head, stream.Config{
		What:      "watch deployments",
		Options:   opts,
		Admission: admit,
		Status: func(ctx context.Context, err error) error {
			return toStatus(ctx, log, "WatchDeployments", err)
		},
	})}
}

// Progress tells the streams the store has published every change up to
// rev: idle subscribers' heartbeats carry it.
func (s *Distribution) Progress(rev uint64) { s.srv.Progress(rev) }

// Drop makes every stream catch up from the store's log again: a store
// whose log started its history again calls it, so that streams behind
// the new history resync.
func (s *Distribution) Drop() { s.srv.Drop() }

// Publish hands a committed change to the streams, in commit order.
func (s *Distribution) Publish(e store.Entry) { s.srv.Publish(e) }

// Subscribers returns how many streams follow the live changes.
func (s *Distribution) Subscribers() int { return s.srv.Subscribers() }

// Head returns the last revision handed to the subscribers.
func (s *Distribution) Head() uint64 { return s.srv.Head() }

// WatchDeployments streams the deployments the caller may see.
func (s *Distribution) WatchDeployments(req *deploytrackerv1.WatchDeploymentsRequest, st grpc.ServerStreamingServer[deploytrackerv1.WatchDeploymentsResponse]) error {
	return s.srv.Serve(st.Context(),
		stream.Request{Account: req.GetAccount(), Project: req.GetProject(), EnvironmentType: req.GetEnvironmentType()},
		changefeed.Position{Revision: req.GetFromRevision(), Epoch: req.GetEpoch()}, st.Send)
}

// deploymentCodec is the deployment stream's stream.Codec.
type deploymentCodec struct {
	store   DeploymentFeed
	url     URLs
	damaged *damageLog
}

type (
	deployment        = *deploytrackerv1.Deployment
	deploymentMessage = *deploytrackerv1.WatchDeploymentsResponse
)

func (deploymentCodec) Places(e store.Entry) (before, after *changefeed.Place) {
	return e.Before, e.After
}

func (w deploymentCodec) Current(e store.Entry) (*changefeed.Place, deployment) {
	d, err := w.store.GetDeployment(e.Account, e.Project, e.DeploymentID)
	if err != nil {
		// Gone: its delete follows.
		return nil, nil
	}
	pd, ok := w.Build(d)
	if !ok {
		return nil, nil
	}
	return d.Place(), pd
}

func (deploymentCodec) ItemPlace(d *store.Deployment) *changefeed.Place { return d.Place() }

func (deploymentCodec) ItemKey(d *store.Deployment) string {
	return stream.RevisionKey(d.ID, d.Revision)
}

// Build sends a deployment as it is. One damaged record harms only
// itself: it is left out, the others stream, and edges serve nothing at
// its environment's URL.
func (w deploymentCodec) Build(d *store.Deployment) (deployment, bool) {
	if d.Damaged != "" {
		w.damaged.report(d)
		return nil, false
	}
	return toProto(d, w.url), true
}

// Change sends a deployment in the scope as deployed; one that left it
// (deleted, or redeployed with a type outside the scope) is gone for this
// subscriber either way.
func (deploymentCodec) Change(e store.Entry, t changefeed.Transition, d deployment) deploymentMessage {
	out := &deploytrackerv1.DeploymentChange{Revision: e.Revision, DeploymentId: e.DeploymentID,
		Type: deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED, Deployment: d}
	if t == changefeed.Leaves {
		out.Type, out.Deployment = deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DELETED, nil
	}
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: out}}
}

func (deploymentCodec) Item(d deployment) deploymentMessage {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{SnapshotItem: d}}
}

func (deploymentCodec) Resync(reason string, requested, oldest uint64, epoch string) deploymentMessage {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Resync{
		Resync: &deploytrackerv1.DeploymentResync{Reason: reason, RequestedRevision: requested, OldestRetainedRevision: oldest, Epoch: epoch}}}
}

func (deploymentCodec) SnapshotComplete(rev uint64, epoch string) deploymentMessage {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete{
		SnapshotComplete: &deploytrackerv1.DeploymentSnapshotComplete{Revision: rev, Epoch: epoch}}}
}

func (deploymentCodec) Heartbeat(rev uint64, epoch string) deploymentMessage {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Heartbeat{
		Heartbeat: &deploytrackerv1.DeploymentHeartbeat{Revision: rev, Epoch: epoch}}}
}

// damageLog logs each damaged deployment record once, however many
// streams leave it out, naming it and never its bytes.
type damageLog struct {
	log  *slog.Logger
	seen sync.Map
}

func (l *damageLog) report(d *store.Deployment) {
	key := d.Account + "\x00" + d.Project + "\x00" + d.Environment + "\x00" + d.Damaged
	if _, seen := l.seen.LoadOrStore(key, true); seen {
		return
	}
	l.log.Error("damaged deployment is left out of the stream; redeploy its environment (or delete it) to replace it",
		slog.String("deploymentId", d.ID), slog.String("account", d.Account), slog.String("project", d.Project),
		slog.String("environment", d.Environment), slog.String("error", d.Damaged))
}
