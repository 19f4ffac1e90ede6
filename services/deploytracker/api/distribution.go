package api

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/validate"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// Distribution serves DeploymentDistributionService.
type Distribution struct {
	deploytrackerv1.UnimplementedDeploymentDistributionServiceServer
	store DeploymentFeed
	hub   *changefeed.Hub[store.Change]
	opts  changefeed.Options
	admit *changefeed.Admission
	url   URLs
	log   *slog.Logger
	// damaged remembers the damaged records already logged, by key.
	damaged sync.Map
}

// NewDistribution returns the DeploymentDistributionService handlers.
// admit bounds the open streams.
func NewDistribution(st DeploymentFeed, hub *changefeed.Hub[store.Change], opts changefeed.Options, admit *changefeed.Admission, url URLs, log *slog.Logger) *Distribution {
	return &Distribution{store: st, hub: hub, opts: opts, admit: admit, url: url, log: log}
}

type scope struct {
	account, project string
	environmentTypes []string // empty keeps all
}

func (sc scope) contains(d *store.Deployment) bool {
	return d != nil && (sc.account == "" || d.Account == sc.account) &&
		(sc.project == "" || d.Project == sc.project) &&
		(len(sc.environmentTypes) == 0 || slices.Contains(sc.environmentTypes, d.EnvironmentType))
}

// WatchDeployments streams the deployments the caller may see.
func (s *Distribution) WatchDeployments(req *deploytrackerv1.WatchDeploymentsRequest, stream grpc.ServerStreamingServer[deploytrackerv1.WatchDeploymentsResponse]) error {
	ctx := stream.Context()
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	sc := scope{account: req.GetAccount(), project: req.GetProject()}
	if p.Role != auth.RoleAdmin && p.Role != auth.RoleEdge {
		return toStatus(ctx, s.log, "WatchDeployments", &auth.ForbiddenError{Msg: "only edge and admin keys may watch deployments"})
	}
	if sc.account == "" && p.Role == auth.RoleEdge {
		sc.account = p.Account
	}
	if sc.account != "" && !p.CanReceive(sc.account) {
		return auth.Denied(sc.account)
	}
	if sc.project != "" && sc.account == "" {
		return toStatus(ctx, s.log, "WatchDeployments", &validate.Error{Field: "project", Msg: "a project scope needs an account: set account too"})
	}
	if t := req.GetEnvironmentType(); t != "" {
		if err := validate.EnvironmentType(t).Validate(); err != nil {
			return toStatus(ctx, s.log, "WatchDeployments", err)
		}
		sc.environmentTypes = []string{t}
	}
	// An edge key limited to a project or environment types sees nothing
	// outside them.
	if sc.project, sc.environmentTypes, err = p.Limit(sc.project, sc.environmentTypes); err != nil {
		return toStatus(ctx, s.log, "WatchDeployments", &auth.ForbiddenError{Msg: err.Error()})
	}
	release, err := s.admit.Acquire(p.KeyID, connID(ctx))
	if err != nil {
		return toStatus(ctx, s.log, "WatchDeployments", err)
	}
	defer release()
	var dog changefeed.Watchdog
	w := &sink{stream: stream, dog: &dog, scope: sc, store: s.store, url: s.url, skipped: s.logDamaged}
	err = dog.Run(s.opts.Stall, func() error {
		return changefeed.Follow(ctx, s.hub, s.store, w, changefeed.Position{Revision: req.GetFromRevision(), Epoch: req.GetEpoch()}, s.opts)
	})
	return toStatus(ctx, s.log, "WatchDeployments", err)
}

// connID names the gRPC connection a stream arrived on, for the limit per
// connection: the two ends of a TCP connection are unique while it is
// open, and every stream on it ends when it closes.
func connID(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	id := p.Addr.String()
	if p.LocalAddr != nil {
		id += " " + p.LocalAddr.String()
	}
	return id
}

type sink struct {
	stream grpc.ServerStreamingServer[deploytrackerv1.WatchDeploymentsResponse]
	dog    *changefeed.Watchdog
	scope  scope
	store  DeploymentFeed
	url    URLs
	// skipped reports a damaged deployment left out of a snapshot.
	skipped func(d *store.Deployment)
}

func (w *sink) send(ev *deploytrackerv1.WatchDeploymentsResponse) error {
	return w.dog.Send(func() error { return w.stream.Send(ev) })
}

func (w *sink) Resync(reason string, requested, oldest uint64) error {
	return w.send(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Resync{
		Resync: &deploytrackerv1.DeploymentResync{Reason: reason, RequestedRevision: requested, OldestRetainedRevision: oldest, Epoch: w.store.Epoch()}}})
}

func (w *sink) Snapshot() (uint64, error) {
	list, rev, err := w.store.Snapshot()
	if err != nil {
		return 0, err
	}
	for i, d := range list {
		// What is sent is let go, so that a subscriber that stalls
		// part-way holds only the rest until its watchdog ends it.
		list[i] = nil
		if !w.scope.contains(d) {
			continue
		}
		if d.Damaged != "" {
			// One damaged record harms only itself: the others stream,
			// and edges serve nothing at its environment's URL.
			w.skipped(d)
			continue
		}
		if err := w.send(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{SnapshotItem: toProto(d, w.url)}}); err != nil {
			return 0, err
		}
	}
	return rev, w.send(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete{
		SnapshotComplete: &deploytrackerv1.DeploymentSnapshotComplete{Revision: rev, Epoch: w.store.Epoch()}}})
}

func (w *sink) Change(c store.Change) error {
	out := &deploytrackerv1.DeploymentChange{Revision: c.Revision, DeploymentId: c.DeploymentID}
	switch {
	case w.scope.contains(c.After):
		out.Type, out.Deployment = deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED, toProto(c.After, w.url)
	case w.scope.contains(c.Before):
		// Deleted, or redeployed with a type outside the scope: gone for
		// this subscriber either way.
		out.Type = deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DELETED
	default:
		return nil
	}
	return w.send(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: out}})
}

func (w *sink) Heartbeat(rev uint64) error {
	return w.send(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Heartbeat{
		Heartbeat: &deploytrackerv1.DeploymentHeartbeat{Revision: rev, Epoch: w.store.Epoch()}}})
}

// logDamaged logs a damaged deployment record once, however many snapshots
// leave it out, naming it and never its bytes.
func (s *Distribution) logDamaged(d *store.Deployment) {
	key := d.Account + "\x00" + d.Project + "\x00" + d.Environment + "\x00" + d.Damaged
	if _, seen := s.damaged.LoadOrStore(key, true); seen {
		return
	}
	s.log.Error("damaged deployment is left out of the stream; redeploy its environment (or delete it) to replace it",
		slog.String("deploymentId", d.ID), slog.String("account", d.Account), slog.String("project", d.Project),
		slog.String("environment", d.Environment), slog.String("error", d.Damaged))
}
