package etcdstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/services/certmgr/store"
)

// The audit trail is kept under PREFIXaudit/ (see etcdkv.AuditTrail):
// a write's entry in the write's own transaction, the others in one of
// their own, shared by every replica.

// CreateCertificateAudited is CreateCertificate that also puts rec's entry
// in the write's own transaction, so that an acknowledged write never
// lacks its audit entry.
func (s *Store) CreateCertificateAudited(rec store.AuditFunc, c *store.Certificate) (store.Change, error) {
	return s.createCertificate(rec, c)
}

// UpdateCertificateAudited is UpdateCertificate with rec's entry (see
// CreateCertificateAudited). An update that changes nothing adds nothing.
func (s *Store) UpdateCertificateAudited(rec store.AuditFunc, account, project, id string, fn func(c *store.Certificate) (string, error)) (*store.Certificate, store.Change, error) {
	return s.updateCertificate(rec, account, project, id, fn)
}

// DeleteCertificateAudited is DeleteCertificate with rec's entry (see
// CreateCertificateAudited).
func (s *Store) DeleteCertificateAudited(rec store.AuditFunc, account, project, id string, check func(c *store.Certificate) error) (store.Change, error) {
	return s.deleteCertificate(rec, account, project, id, check)
}

// RecordAudit adds an entry in a transaction of its own: a refused write,
// or one that is not a certificate change.
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

// auditOps returns ops with, when rec makes an entry of ch (its Revision
// still unknown: the entry takes the transaction's), the operations that
// add it; and the account whose trail it adds to ("" when none).
func (s *Store) auditOps(rec store.AuditFunc, ch store.Change, ops ...clientv3.Op) ([]clientv3.Op, string, error) {
	if rec == nil {
		return ops, "", nil
	}
	e := rec(ch)
	if e == nil {
		return ops, "", nil
	}
	more, err := s.audit.Ops(*e, true)
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
