package store

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/audit"
)

// AuditFunc makes the audit entry of a write from the change it made, or
// returns nil when the write is a step that is not audited by itself (the
// mark of a delete, for one).
type AuditFunc func(Change) *audit.Entry

// CreateCertificateAudited is CreateCertificate that also appends rec's
// entry in the write's own transaction, so that an acknowledged write never
// lacks its audit entry.
func (s *Store) CreateCertificateAudited(rec AuditFunc, c *Certificate) (Change, error) {
	return s.createCertificate(rec, c)
}

// UpdateCertificateAudited is UpdateCertificate with rec's entry (see
// CreateCertificateAudited). An update that changes nothing appends nothing.
func (s *Store) UpdateCertificateAudited(rec AuditFunc, account, project, id string, fn func(c *Certificate) (string, error)) (*Certificate, Change, error) {
	return s.updateCertificate(rec, account, project, id, fn)
}

// DeleteCertificateAudited is DeleteCertificate with rec's entry (see
// CreateCertificateAudited).
func (s *Store) DeleteCertificateAudited(rec AuditFunc, account, project, id string, check func(c *Certificate) error) (Change, error) {
	return s.deleteCertificate(rec, account, project, id, check)
}

// RecordAudit appends an entry in a transaction of its own: a refused write,
// or one that is not a certificate change.
func (s *Store) RecordAudit(e audit.Entry) error { return s.audit.Record(s.db, e) }

// ListAudit lists an account's audit entries (see audit.Log.List).
func (s *Store) ListAudit(q audit.Query, now time.Time) ([]audit.Entry, string, error) {
	var out []audit.Entry
	var next string
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, next, err = s.audit.List(tx, q, now)
		return err
	})
	return out, next, err
}
