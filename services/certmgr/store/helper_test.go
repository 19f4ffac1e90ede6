package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTestStore opens a store in a fresh temporary directory. On cleanup it
// closes the store (a test may already have done so) and checks the file's
// consistency with bbolt's own checker.
func openTestStore(t *testing.T, opts Options) *Store {
	t.Helper()
	return openTestStoreAt(t, filepath.Join(t.TempDir(), "certmgr.db"), opts)
}

// openTestStoreAt opens the store at path, with the same cleanup as
// openTestStore.
func openTestStoreAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkConsistency(t, path)
	})
	return s
}

func checkConsistency(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("reopen %s for the consistency check: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("consistency check of %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("consistency check of %s: %v", path, err)
	}
}

var certSeq atomic.Uint64

// newCert returns a client certificate record with a unique id.
func newCert(account, project, name string) *Certificate {
	n := certSeq.Add(1)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	return &Certificate{
		ID:               fmt.Sprintf("cert-%04d", n),
		Account:          account,
		Project:          project,
		Name:             name,
		Kind:             KindClient,
		EnvironmentTypes: []string{"development", "production"},
		State:            StateActive,
		Version:          1,
		ChainPEM:         []byte("-----BEGIN CERTIFICATE-----\n" + name + "\n-----END CERTIFICATE-----\n"),
		SealedKey:        []byte("sealed:" + name),
		Subject:          "CN=" + name,
		Issuer:           "CN=test CA",
		SerialNumber:     fmt.Sprint(n),
		Fingerprint:      fmt.Sprintf("%064x", n),
		NotBefore:        at,
		NotAfter:         at.Add(365 * 24 * time.Hour),
		CreatedAt:        at,
		UpdatedAt:        at,
	}
}

// mustCreate creates c and fails the test on error.
func mustCreate(t *testing.T, s *Store, c *Certificate) Change {
	t.Helper()
	ch, err := s.CreateCertificate(c)
	if err != nil {
		t.Fatalf("CreateCertificate(%s/%s/%s): %v", c.Account, c.Project, c.Name, err)
	}
	return ch
}

// mustRevision returns the store's revision.
func mustRevision(t *testing.T, s *Store) uint64 {
	t.Helper()
	rev, err := s.Revision()
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

// allChanges returns the whole retained changelog.
func allChanges(t *testing.T, s *Store) []Entry {
	t.Helper()
	changes, _, _, err := s.ChangesSince(0, 1<<30)
	if err != nil {
		t.Fatalf("ChangesSince: %v", err)
	}
	return changes
}

// txID returns the id of the last committed bbolt transaction: it moves on
// every commit, even an empty one.
func txID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
	return id
}

// recorder is a publisher that records what it is given.
type recorder struct {
	ch chan Entry
}

func newRecorder(n int) *recorder { return &recorder{ch: make(chan Entry, n)} }

func (r *recorder) publish(c Entry) { r.ch <- c }

// drain returns everything published so far.
func (r *recorder) drain() []Entry {
	var out []Entry
	for {
		select {
		case c := <-r.ch:
			out = append(out, c)
		default:
			return out
		}
	}
}

// createLegacy creates c the way certmgr did before its changelog entries
// became Entry: the record, and in the changelog the whole change with the
// record in it, sealed key included (the old encoder). Data dirs written
// then still hold such entries.
func createLegacy(t *testing.T, s *Store, c *Certificate) uint64 {
	t.Helper()
	var rev uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx) + 1
		rec := *c
		rec.Revision = rev
		if err := putJSON(tx.Bucket(bucketCerts), certKey(c.Account, c.Project, c.ID), &rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketNames).Put(nameKey(c.Account, c.Project, c.Name), []byte(c.ID)); err != nil {
			return err
		}
		return s.log.Append(tx, rev, legacyEntry{Revision: rev, Type: ChangeCreated, CertificateID: c.ID, Account: c.Account, Project: c.Project, After: &rec, At: c.CreatedAt})
	})
	if err != nil {
		t.Fatalf("creating %s with an old-format changelog entry: %v", c.Name, err)
	}
	return rev
}

// legacyRecords returns the records held by old-format changelog entries.
func legacyRecords(t *testing.T, s *Store) []*Certificate {
	t.Helper()
	var out []*Certificate
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChangelog).ForEach(func(_, v []byte) error {
			var e legacyEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			for _, c := range []*Certificate{e.Before, e.After} {
				if c != nil {
					out = append(out, c)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
