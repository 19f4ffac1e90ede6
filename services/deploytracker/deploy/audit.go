package deploy

import (
	"context"
	"time"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// AuditTrail is what a Tracker needs to keep the audit trail in its store:
// the commit of a deploy and a delete that append their entry in their own
// transaction, refused writes recorded by themselves, and the listing. Both
// stores have it (bbolt's and etcd's); it stays optional: a store without
// it keeps no trail, and each write is still logged.
type AuditTrail interface {
	CommitDeployAudited(rec store.AuditFunc, p store.Pending, d *store.Deployment, newID string) (store.Change, error)
	DeleteDeploymentAudited(rec store.AuditFunc, account, project, id string) (store.Change, error)
	RecordAudit(e audit.Entry) error
	ListAudit(q audit.Query, now time.Time) ([]audit.Entry, string, error)
}

var _ AuditTrail = (*store.Store)(nil)

// ErrNoAuditTrail answers a listing on a store that keeps no trail.
var ErrNoAuditTrail = errorString("this deploytracker's store keeps no audit trail; read the audit lines of its log")

type errorString string

func (e errorString) Error() string { return string(e) }

func (t *Tracker) auditFunc(action, actor string) store.AuditFunc {
	return func(ch store.Change) audit.Entry {
		d := ch.After
		if d == nil {
			d = ch.Before
		}
		e := audit.Entry{Time: t.now().UTC(), Actor: audit.ActorOf(actor), Action: action, Result: audit.ResultOK, Revision: ch.Revision,
			Resource: audit.Resource{Kind: audit.KindDeployment, Account: ch.Account, Project: ch.Project, ID: ch.DeploymentID}}
		if d != nil {
			e.Resource.Name = d.Environment
		}
		return e
	}
}

func (t *Tracker) commit(ctx context.Context, actor string, p store.Pending, d *store.Deployment, newID string) (ch store.Change, err error) {
	span := t.storeSpan(ctx, "store.CommitDeploy", p.Account, p.Project, p.Environment)
	defer func() { endSpan(span, ch, err) }()
	if t.trail == nil {
		return t.store.CommitDeploy(p, d, newID)
	}
	return t.trail.CommitDeployAudited(t.auditFunc("deployment.deploy", actor), p, d, newID)
}

func (t *Tracker) deleteDeployment(ctx context.Context, actor, account, project, id string) (ch store.Change, err error) {
	span := t.storeSpan(ctx, "store.DeleteDeployment", account, project, "")
	defer func() { endSpan(span, ch, err) }()
	if t.trail == nil {
		return t.store.DeleteDeployment(account, project, id)
	}
	return t.trail.DeleteDeploymentAudited(t.auditFunc("deployment.delete", actor), account, project, id)
}

// RecordRefused keeps the entry of a write that was refused, in a
// transaction of its own. code and msg are what the caller was answered.
func (t *Tracker) RecordRefused(actor audit.Actor, action string, res audit.Resource, code, msg string) error {
	if t.trail == nil {
		return nil
	}
	return t.trail.RecordAudit(audit.Entry{Time: t.now().UTC(), Actor: actor, Action: action, Resource: res,
		Result: audit.ResultRefused, Code: code, Message: msg})
}

// ListAudit lists an account's audit trail.
func (t *Tracker) ListAudit(q audit.Query) ([]audit.Entry, string, error) {
	if t.trail == nil {
		return nil, "", ErrNoAuditTrail
	}
	return t.trail.ListAudit(q, t.now())
}
