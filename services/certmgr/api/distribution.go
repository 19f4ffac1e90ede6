package api

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/grpcerr"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Distribution serves DistributionService: the certificate change stream,
// with private keys, for edges.
type Distribution struct {
	certmgrv1.UnimplementedDistributionServiceServer
	m     *certs.Manager
	store CertificateFeed
	hub   *changefeed.Hub[store.Change]
	opts  changefeed.Options
	admit *changefeed.Admission
	log   *slog.Logger
	// damaged holds the certificates seen damaged, by id, so each is logged
	// once however many subscribers it is sent to.
	damaged damageLog
}

// NewDistribution returns the DistributionService handlers. admit bounds
// the open streams.
func NewDistribution(m *certs.Manager, st CertificateFeed, hub *changefeed.Hub[store.Change], opts changefeed.Options, admit *changefeed.Admission, log *slog.Logger) *Distribution {
	return &Distribution{m: m, store: st, hub: hub, opts: opts, admit: admit, log: log, damaged: damageLog{log: log}}
}

// Damaged returns the certificates whose material could not be sent the last
// time they were due, ordered by id: their key does not unseal or their
// chain does not decode. A certificate leaves the list when a newer version
// of it streams (a rotation repairs it) or it is deleted.
func (s *Distribution) Damaged() []DamagedCertificate { return s.damaged.list() }

// DamagedCertificate names a certificate that is streamed without material.
type DamagedCertificate struct {
	ID, Account, Project, Name string
	Version                    int32
}

// WatchCertificates streams the certificates the caller may receive.
func (s *Distribution) WatchCertificates(req *certmgrv1.WatchCertificatesRequest, stream grpc.ServerStreamingServer[certmgrv1.WatchCertificatesResponse]) error {
	ctx := stream.Context()
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	sc, err := watchScope(p, req)
	if err != nil {
		return toStatus(ctx, s.log, "WatchCertificates", err)
	}
	release, err := s.admit.Acquire(p.KeyID, connID(ctx))
	if err != nil {
		return toStatus(ctx, s.log, "WatchCertificates", err)
	}
	defer release()
	var dog changefeed.Watchdog
	sink := &watchSink{stream: stream, dog: &dog, scope: sc, m: s.m, store: s.store, damaged: &s.damaged}
	err = dog.Run(s.opts.Stall, func() error {
		return changefeed.Follow(ctx, s.hub, s.store, sink, changefeed.Position{Revision: req.GetFromRevision(), Epoch: req.GetEpoch()}, s.opts)
	})
	if !errors.Is(err, changefeed.ErrStalled) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.Canceled) {
		// The stream ended because its context did: say so whatever the
		// follower's error was.
		st, _ := grpcerr.FromContext(ctx.Err())
		return st
	}
	return toStatus(ctx, s.log, "WatchCertificates", err)
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

// scope is what one subscriber receives.
type scope struct {
	account, project string
	// environmentTypes keeps certificates allowed in any of them; empty
	// keeps all.
	environmentTypes []string
}

func (sc scope) contains(c *store.Certificate) bool {
	return c != nil &&
		(sc.account == "" || c.Account == sc.account) &&
		(sc.project == "" || c.Project == sc.project) &&
		(len(sc.environmentTypes) == 0 || slices.ContainsFunc(c.EnvironmentTypes, func(t string) bool { return slices.Contains(sc.environmentTypes, t) }))
}

// errProjectWithoutAccount refuses a watch scoped to a project of no
// account.
var errProjectWithoutAccount = &validate.Error{Field: "project", Msg: "a project scope needs an account: set account too"}

func watchScope(p auth.Principal, req *certmgrv1.WatchCertificatesRequest) (scope, error) {
	sc := scope{account: req.GetAccount(), project: req.GetProject()}
	if t := req.GetEnvironmentType(); t != "" {
		if err := validate.EnvironmentType(t).Validate(); err != nil {
			return sc, err
		}
		sc.environmentTypes = []string{t}
	}
	if p.Role == auth.RoleAccount {
		return sc, &auth.ForbiddenError{Msg: "account keys may not receive private keys: create an edge key with `certbind api-key create --account A --role edge`"}
	}
	if sc.account == "" && p.Role != auth.RoleAdmin {
		sc.account = p.Account
	}
	if sc.account != "" {
		if err := validate.Account(sc.account); err != nil {
			return sc, err
		}
		if !p.CanReceive(sc.account) {
			return sc, auth.Denied(sc.account)
		}
	}
	if sc.project != "" {
		if sc.account == "" {
			return sc, errProjectWithoutAccount
		}
		if err := validate.Project(sc.project); err != nil {
			return sc, err
		}
	}
	// An edge key limited to a project or environment types receives
	// nothing outside them, whatever it asks for.
	project, types, err := p.Limit(sc.project, sc.environmentTypes)
	if err != nil {
		return sc, &auth.ForbiddenError{Msg: err.Error()}
	}
	sc.project, sc.environmentTypes = project, types
	return sc, nil
}

// watchSink writes one subscriber's stream.
type watchSink struct {
	stream  grpc.ServerStreamingServer[certmgrv1.WatchCertificatesResponse]
	dog     *changefeed.Watchdog
	scope   scope
	m       *certs.Manager
	store   CertificateFeed
	damaged *damageLog
}

func (w *watchSink) send(ev *certmgrv1.WatchCertificatesResponse) error {
	return w.dog.Send(func() error { return w.stream.Send(ev) })
}

func (w *watchSink) Resync(reason string, requested, oldest uint64) error {
	return w.send(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Resync{
		Resync: &certmgrv1.Resync{Reason: reason, RequestedRevision: requested, OldestRetainedRevision: oldest, Epoch: w.store.Epoch()},
	}})
}

func (w *watchSink) Snapshot() (uint64, error) {
	list, rev, err := w.store.Snapshot()
	if err != nil {
		return 0, err
	}
	for i, c := range list {
		// What is sent is let go, so that a subscriber that stalls
		// part-way holds only the rest until its watchdog ends it.
		list[i] = nil
		if !w.scope.contains(c) {
			continue
		}
		if err := w.send(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{SnapshotItem: w.material(c)}}); err != nil {
			return 0, err
		}
	}
	return rev, w.send(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotComplete{
		SnapshotComplete: &certmgrv1.SnapshotComplete{Revision: rev, Epoch: w.store.Epoch()},
	}})
}

var changeTypes = map[string]certmgrv1.ChangeType{
	store.ChangeCreated:  certmgrv1.ChangeType_CHANGE_TYPE_CREATED,
	store.ChangeUpdated:  certmgrv1.ChangeType_CHANGE_TYPE_UPDATED,
	store.ChangeDisabled: certmgrv1.ChangeType_CHANGE_TYPE_DISABLED,
	store.ChangeEnabled:  certmgrv1.ChangeType_CHANGE_TYPE_ENABLED,
	store.ChangeRotated:  certmgrv1.ChangeType_CHANGE_TYPE_ROTATED,
	store.ChangeDeleted:  certmgrv1.ChangeType_CHANGE_TYPE_DELETED,
}

// Change sends a change when the certificate is in scope after it, or was
// before it (then as a removal, without material).
func (w *watchSink) Change(c store.Change) error {
	out := &certmgrv1.CertificateChange{Revision: c.Revision, CertificateId: c.CertificateID}
	switch {
	case w.scope.contains(c.After):
		out.Type, out.Material = changeTypes[c.Type], w.material(c.After)
		// A certificate that enters the scope (its environment types grew)
		// is new to this subscriber.
		if c.Before != nil && !w.scope.contains(c.Before) {
			out.Type = certmgrv1.ChangeType_CHANGE_TYPE_CREATED
		}
	case w.scope.contains(c.Before):
		out.Type = certmgrv1.ChangeType_CHANGE_TYPE_REMOVED_FROM_SCOPE
		if c.Type == store.ChangeDeleted {
			out.Type = certmgrv1.ChangeType_CHANGE_TYPE_DELETED
		}
	default:
		return nil
	}
	if c.Type == store.ChangeDeleted {
		w.damaged.forget(c.CertificateID)
	}
	return w.send(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: out}})
}

func (w *watchSink) Heartbeat(rev uint64) error {
	return w.send(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Heartbeat{
		Heartbeat: &certmgrv1.Heartbeat{Revision: rev, Epoch: w.store.Epoch()},
	}})
}

// material is what a subscriber receives for c. A damaged certificate harms
// only itself: it is sent as its metadata without chain or key, which an
// edge cannot use, so routes that need it answer 502 naming it while every
// other certificate streams.
func (w *watchSink) material(c *store.Certificate) *certmgrv1.CertificateMaterial {
	pc := toProto(c, w.m.Now())
	key, err := w.m.PrivateKey(c)
	if err != nil {
		w.damaged.report(c, err)
		pc.CertificatePem, pc.Damaged = "", err.Error()
		return &certmgrv1.CertificateMaterial{Certificate: pc}
	}
	w.damaged.streamed(c)
	return &certmgrv1.CertificateMaterial{Certificate: pc, PrivateKeyPkcs8: key}
}

// damageLog remembers the damaged certificates, so that each damaged
// version is logged once, and tells when one streams again.
type damageLog struct {
	log *slog.Logger
	mu  sync.Mutex
	// byID is read on every send; the count lets the common case, nothing
	// damaged, skip the lock.
	byID map[string]DamagedCertificate
	n    atomic.Int64
}

func (d *damageLog) report(c *store.Certificate, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.byID[c.ID]; ok && prev.Version >= c.Version {
		return
	}
	if d.byID == nil {
		d.byID = map[string]DamagedCertificate{}
	}
	d.byID[c.ID] = DamagedCertificate{ID: c.ID, Account: c.Account, Project: c.Project, Name: c.Name, Version: c.Version}
	d.n.Store(int64(len(d.byID)))
	// The error names the certificate and the cause, never key bytes.
	d.log.Error("damaged certificate is streamed without its material; routes that use it answer 502 until it is rotated in place",
		slog.String("certificateId", c.ID), slog.String("account", c.Account), slog.String("project", c.Project),
		slog.String("name", c.Name), slog.Int("version", int(c.Version)), slog.String("error", err.Error()))
}

// streamed notes that c's material was sent: a version newer than the
// damaged one means the certificate was repaired. An older one (a
// subscriber replaying the changelog) repairs nothing.
func (d *damageLog) streamed(c *store.Certificate) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.byID[c.ID]; ok && c.Version > prev.Version {
		delete(d.byID, c.ID)
		d.n.Store(int64(len(d.byID)))
		d.log.Info("damaged certificate streams again after its rotation",
			slog.String("certificateId", c.ID), slog.String("account", c.Account), slog.String("project", c.Project),
			slog.String("name", c.Name), slog.Int("version", int(c.Version)))
	}
}

func (d *damageLog) forget(id string) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byID, id)
	d.n.Store(int64(len(d.byID)))
}

func (d *damageLog) list() []DamagedCertificate {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DamagedCertificate, 0, len(d.byID))
	for _, c := range d.byID {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b DamagedCertificate) int { return strings.Compare(a.ID, b.ID) })
	return out
}
