package certs

import (
	"context"
	"time"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/services/certmgr/store"
)

// AuditTrail is what a Manager needs to keep the audit trail in its store:
// writes that append their entry in their own transaction, refused writes
// recorded by themselves, and the listing. Both stores have it (bbolt's and
// etcd's); it stays optional: a store without it keeps no trail, and each
// write is still logged.
type AuditTrail interface {
	CreateCertificateAudited(rec store.AuditFunc, c *store.Certificate) (store.Change, error)
	UpdateCertificateAudited(rec store.AuditFunc, account, project, id string, fn func(c *store.Certificate) (string, error)) (*store.Certificate, store.Change, error)
	DeleteCertificateAudited(rec store.AuditFunc, account, project, id string, check func(c *store.Certificate) error) (store.Change, error)
	RecordAudit(e audit.Entry) error
	ListAudit(q audit.Query, now time.Time) ([]audit.Entry, string, error)
}

var _ AuditTrail = (*store.Store)(nil)

// ErrNoAuditTrail answers a listing on a store that keeps no trail.
var ErrNoAuditTrail = errorString("this certmgr's store keeps no audit trail; read the audit lines of its log")

type errorString string

func (e errorString) Error() string { return string(e) }

// writer makes one request's certificate writes, with its audit entry when
// the store keeps a trail.
type writer struct {
	m   *Manager
	ctx context.Context // the request's, for the spans of its store transactions
	rec store.AuditFunc
}

// audited returns the writer of one request: action by actor. Each
// successful write through it records the entry that entry makes of its
// change (nil: none).
func (m *Manager) audited(ctx context.Context, action, actor string) writer {
	return m.auditedIf(ctx, action, actor, func(store.Change) bool { return true })
}

func (m *Manager) auditedIf(ctx context.Context, action, actor string, record func(store.Change) bool) writer {
	return writer{m: m, ctx: ctx, rec: func(ch store.Change) *audit.Entry {
		if !record(ch) {
			return nil
		}
		rec := ch.After
		if rec == nil {
			rec = ch.Before
		}
		e := &audit.Entry{
			Time: m.now().UTC(), Actor: audit.ActorOf(actor), Action: action, Result: audit.ResultOK, Revision: ch.Revision,
			Resource: audit.Resource{Kind: audit.KindCertificate, Account: ch.Account, Project: ch.Project, ID: ch.CertificateID},
		}
		if rec != nil {
			e.Resource.Name = rec.Name
		}
		return e
	}}
}

func (w writer) CreateCertificate(c *store.Certificate) (ch store.Change, err error) {
	span := w.m.storeSpan(w.ctx, "store.CreateCertificate", c.Account, c.Project, c.ID)
	defer func() { endSpan(span, ch, err) }()
	if w.m.trail == nil {
		return w.m.store.CreateCertificate(c)
	}
	return w.m.trail.CreateCertificateAudited(w.rec, c)
}

func (w writer) UpdateCertificate(account, project, id string, fn func(c *store.Certificate) (string, error)) (c *store.Certificate, ch store.Change, err error) {
	span := w.m.storeSpan(w.ctx, "store.UpdateCertificate", account, project, id)
	defer func() { endSpan(span, ch, err) }()
	if w.m.trail == nil {
		return w.m.store.UpdateCertificate(account, project, id, fn)
	}
	return w.m.trail.UpdateCertificateAudited(w.rec, account, project, id, fn)
}

func (w writer) DeleteCertificate(account, project, id string, check func(c *store.Certificate) error) (ch store.Change, err error) {
	span := w.m.storeSpan(w.ctx, "store.DeleteCertificate", account, project, id)
	defer func() { endSpan(span, ch, err) }()
	if w.m.trail == nil {
		return w.m.store.DeleteCertificate(account, project, id, check)
	}
	return w.m.trail.DeleteCertificateAudited(w.rec, account, project, id, check)
}

// RecordRefused keeps the entry of a write that was refused: nothing was
// written, so the entry takes a transaction of its own. code and msg are
// what the caller was answered.
func (m *Manager) RecordRefused(actor audit.Actor, action string, res audit.Resource, code, msg string) error {
	if m.trail == nil {
		return nil
	}
	return m.trail.RecordAudit(audit.Entry{Time: m.now().UTC(), Actor: actor, Action: action, Resource: res,
		Result: audit.ResultRefused, Code: code, Message: msg})
}

// Record keeps the entry of a successful write that is not a certificate
// change (API keys, the master key).
func (m *Manager) Record(actor audit.Actor, action string, res audit.Resource) error {
	if m.trail == nil {
		return nil
	}
	return m.trail.RecordAudit(audit.Entry{Time: m.now().UTC(), Actor: actor, Action: action, Resource: res, Result: audit.ResultOK})
}

// ListAudit lists an account's audit trail.
func (m *Manager) ListAudit(q audit.Query) ([]audit.Entry, string, error) {
	if m.trail == nil {
		return nil, "", ErrNoAuditTrail
	}
	return m.trail.ListAudit(q, m.now())
}
