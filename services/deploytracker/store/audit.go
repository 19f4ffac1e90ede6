package store

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/audit"
)

// AuditFunc makes the audit entry of a write from the change it made.
type AuditFunc func(Change) audit.Entry

// RecordAudit appends an entry in a transaction of its own: a refused write.
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
