package etcdstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// The audit trail is kept under PREFIXaudit/ (see etcdkv.AuditTrail): a
// write's entry in the write's own transaction, a refused write's in one
// of its own, shared by every replica.

// CommitDeployAudited is CommitDeploy that also puts rec's entry in the
// write's own transaction, so that an acknowledged deploy never lacks its
// audit entry.
func (s *Store) CommitDeployAudited(rec store.AuditFunc, p store.Pending, d *store.Deployment, newID string) (store.Change, error) {
	return s.commitDeploy(rec, p, d, newID)
}

// DeleteDeploymentAudited is DeleteDeployment with rec's entry (see
// CommitDeployAudited).
func (s *Store) DeleteDeploymentAudited(rec store.AuditFunc, account, project, id string) (store.Change, error) {
	return s.deleteDeployment(rec, account, project, id)
}

// RecordAudit adds an entry in a transaction of its own: a refused write.
func (s *Store) RecordAudit(e audit.Entry) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.audit.Record(ctx, s.cli, e)
}

// ListAudit lists an account's audit entries (see etcdkv.AuditTrail.List).
func (s *Store) ListAudit(q audit.Query, now time.Time) ([]audit.Entry, string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.audit.List(ctx, s.cli, q, now)
}

// auditOps returns ops with, when rec is set, the operations that add the
// entry rec makes of ch (its Revision still unknown: the entry takes the
// transaction's), and the account whose trail it adds to ("" when none).
func (s *Store) auditOps(rec store.AuditFunc, ch store.Change, ops ...clientv3.Op) ([]clientv3.Op, string, error) {
	if rec == nil {
		return ops, "", nil
	}
	e := rec(ch)
	more, err := s.audit.Ops(e, true)
	if err != nil {
		return nil, "", err
	}
	return append(ops, more...), e.AccountOf(), nil
}

// trimAudit trims account's trail to the retention's count after a write
// added to it. The write is committed whatever happens here: a trim that
// fails is made by the account's next write.
func (s *Store) trimAudit(ctx context.Context, account string) {
	if account != "" {
		_ = s.audit.Trim(ctx, s.cli, account)
	}
}
