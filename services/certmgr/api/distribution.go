package api

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/stream"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Distribution serves DistributionService: the certificate change stream,
// with private keys, for edges. The protocol, the scope policy and what is
// shared between subscribers are stream.Server's; certCodec says how a
// certificate is sent.
type Distribution struct {
	certmgrv1.UnimplementedDistributionServiceServer
	srv *stream.Server[store.Entry, *store.Certificate, *certmgrv1.CertificateMaterial, *certmgrv1.WatchCertificatesResponse]
	// damaged holds the certificates seen damaged, by id, so each is logged
	// once however many subscribers it is sent to.
	damaged *damageLog
}

// NewDistribution returns the DistributionService handlers for a store
// whose last committed revision is head; the store's publisher must call
// Publish. admit bounds the open streams.
func NewDistribution(m *certs.Manager, st CertificateFeed, head uint64, opts changefeed.Options, admit *changefeed.Admission, log *slog.Logger) *Distribution {
	d := &Distribution{damaged: &damageLog{log: log}}
	codec := certCodec{m: m, store: st, damaged: d.damaged}
	d.srv = stream.NewServer(st, codec, head, stream.Config{
		What:      "receive private keys",
		Options:   opts,
		Admission: admit,
		Status: func(ctx context.Context, err error) error {
			return toStatus(ctx, log, "WatchCertificates", err)
		},
	})
	return d
}

// Publish hands a committed change to the streams, in commit order.
func (s *Distribution) Publish(e store.Entry) { s.srv.Publish(e) }

// Progress tells the streams the store has published every change up to
// rev: idle subscribers' heartbeats carry it.
func (s *Distribution) Progress(rev uint64) { s.srv.Progress(rev) }

// Drop makes every stream catch up from the store's log again: a store
// whose log started its history again calls it, so that streams behind
// the new history resync.
func (s *Distribution) Drop() { s.srv.Drop() }

// Subscribers returns how many streams follow the live changes.
func (s *Distribution) Subscribers() int { return s.srv.Subscribers() }

// Head returns the last revision handed to the subscribers.
func (s *Distribution) Head() uint64 { return s.srv.Head() }

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
func (s *Distribution) WatchCertificates(req *certmgrv1.WatchCertificatesRequest, st grpc.ServerStreamingServer[certmgrv1.WatchCertificatesResponse]) error {
	return s.srv.Serve(st.Context(),
		stream.Request{Account: req.GetAccount(), Project: req.GetProject(), EnvironmentType: req.GetEnvironmentType()},
		changefeed.Position{Revision: req.GetFromRevision(), Epoch: req.GetEpoch()}, st.Send)
}

// certCodec is the certificate stream's stream.Codec. What it builds once
// per change or snapshot item, for every subscriber, is the certificate's
// material with its unsealed private key: Server's Memos hold it, and let
// it go once no subscriber's buffer, log batch or snapshot still needs it.
type certCodec struct {
	m       *certs.Manager
	store   CertificateFeed
	damaged *damageLog
}

type (
	certMaterial = *certmgrv1.CertificateMaterial
	certMessage  = *certmgrv1.WatchCertificatesResponse
)

func place(c *store.Certificate) *changefeed.Place {
	return &changefeed.Place{Account: c.Account, Project: c.Project, EnvironmentTypes: c.EnvironmentTypes}
}

func (certCodec) Places(e store.Entry) (before, after *changefeed.Place) { return e.Before, e.After }

func (w certCodec) Current(e store.Entry) (*changefeed.Place, certMaterial) {
	c, err := w.store.GetCertificate(e.Account, e.Project, e.CertificateID)
	if err != nil {
		// Gone: its delete follows. A store that cannot read it now
		// leaves the subscriber to the next change or resync.
		return nil, nil
	}
	return place(c), w.material(c)
}

func (certCodec) ItemPlace(c *store.Certificate) *changefeed.Place { return place(c) }

func (certCodec) ItemKey(c *store.Certificate) string { return stream.RevisionKey(c.ID, c.Revision) }

func (w certCodec) Build(c *store.Certificate) (certMaterial, bool) { return w.material(c), true }

var changeTypes = map[string]certmgrv1.ChangeType{
	store.ChangeCreated:  certmgrv1.ChangeType_CHANGE_TYPE_CREATED,
	store.ChangeUpdated:  certmgrv1.ChangeType_CHANGE_TYPE_UPDATED,
	store.ChangeDisabled: certmgrv1.ChangeType_CHANGE_TYPE_DISABLED,
	store.ChangeEnabled:  certmgrv1.ChangeType_CHANGE_TYPE_ENABLED,
	store.ChangeRotated:  certmgrv1.ChangeType_CHANGE_TYPE_ROTATED,
	store.ChangeDeleted:  certmgrv1.ChangeType_CHANGE_TYPE_DELETED,
}

// Change sends a certificate in the scope with its material; one that
// enters the scope (its environment types grew) is new to the subscriber,
// and one that leaves it is removed (or deleted), without material.
func (w certCodec) Change(e store.Entry, t changefeed.Transition, m certMaterial) certMessage {
	out := &certmgrv1.CertificateChange{Revision: e.Revision, CertificateId: e.CertificateID, Type: changeTypes[e.Type], Material: m}
	switch t {
	case changefeed.Enters:
		out.Type = certmgrv1.ChangeType_CHANGE_TYPE_CREATED
	case changefeed.Leaves:
		out.Type, out.Material = certmgrv1.ChangeType_CHANGE_TYPE_REMOVED_FROM_SCOPE, nil
		if e.Type == store.ChangeDeleted {
			out.Type = certmgrv1.ChangeType_CHANGE_TYPE_DELETED
		}
	}
	if e.Type == store.ChangeDeleted {
		w.damaged.forget(e.CertificateID)
	}
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: out}}
}

func (certCodec) Item(m certMaterial) certMessage {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{SnapshotItem: m}}
}

func (certCodec) Resync(reason string, requested, oldest uint64, epoch string) certMessage {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Resync{
		Resync: &certmgrv1.Resync{Reason: reason, RequestedRevision: requested, OldestRetainedRevision: oldest, Epoch: epoch},
	}}
}

func (certCodec) SnapshotComplete(rev uint64, epoch string) certMessage {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotComplete{
		SnapshotComplete: &certmgrv1.SnapshotComplete{Revision: rev, Epoch: epoch},
	}}
}

func (certCodec) Heartbeat(rev uint64, epoch string) certMessage {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Heartbeat{
		Heartbeat: &certmgrv1.Heartbeat{Revision: rev, Epoch: epoch},
	}}
}

// material is what a subscriber receives for c. A damaged certificate harms
// only itself: it is sent as its metadata without chain or key, which an
// edge cannot use, so routes that need it answer 502 naming it while every
// other certificate streams.
func (w certCodec) material(c *store.Certificate) certMaterial {
	key, err := w.m.PrivateKey(c)
	if err != nil && c.Damaged == "" {
		// Read before a master-key rotation re-sealed it and retired the
		// key it was sealed with, opened after: the record as it is now,
		// at the same version, is sealed with a key the ring holds.
		if now, gerr := w.store.GetCertificate(c.Account, c.Project, c.ID); gerr == nil && now.Version == c.Version && !bytes.Equal(now.SealedKey, c.SealedKey) {
			c = now
			key, err = w.m.PrivateKey(c)
		}
	}
	pc := toProto(c, w.m.Now())
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
