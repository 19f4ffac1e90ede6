package store_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// openStore opens a store in a fresh temporary directory. On cleanup it
// closes the store (if the test has not) and checks the file's consistency
// with bbolt's own checker.
func openStore(t *testing.T, opts store.Options) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deploytracker.db")
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		checkFile(t, path)
	})
	return s, path
}

// reopen closes s and opens the file again, as a restart would. The
// returned store is closed on cleanup.
func reopen(t *testing.T, s *store.Store, path string) *store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Errorf("reopen %s for the consistency check: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("bbolt consistency check: %v", err)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pending returns a deploy in progress of env in acme/shop that uses certs.
func pending(token, env, envType string, certs ...string) store.Pending {
	p := store.Pending{Token: token, Account: "acme", Project: "shop", Environment: env, EnvironmentType: envType, StartedAt: t0}
	for _, c := range certs {
		p.References = append(p.References, store.Reference{CertificateID: c, CertificateName: "n" + c, Kind: "client", RoutePath: "/api/*", Option: "mtlsCertificate"})
	}
	return p
}

// deployment returns the record that commits p, stamped at.
func deployment(p store.Pending, at time.Time) *store.Deployment {
	d := &store.Deployment{Account: p.Account, Project: p.Project, Environment: p.Environment, EnvironmentType: p.EnvironmentType,
		Config: []byte(`{"routes":[]}`), References: p.References, CreatedAt: at, UpdatedAt: at}
	for _, r := range p.References {
		d.Routes = append(d.Routes, store.Route{Path: r.RoutePath, Handler: "UrlForwardHandler", BaseURL: "https://b", MTLSCertificateID: r.CertificateID, MTLSCertificateName: r.CertificateName})
	}
	return d
}

// deploy begins and commits one deploy.
func deploy(t *testing.T, s *store.Store, p store.Pending, at time.Time, newID string) store.Change {
	t.Helper()
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	ch, err := s.CommitDeploy(p, deployment(p, at), newID)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func revision(t *testing.T, s *store.Store) uint64 {
	t.Helper()
	rev, err := s.Revision()
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func references(t *testing.T, s *store.Store, account, project, cert string) []store.Use {
	t.Helper()
	uses, err := s.References(account, project, cert)
	if err != nil {
		t.Fatal(err)
	}
	return uses
}

// recorder is a publisher that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	changes []store.Entry
}

func (r *recorder) publish(c store.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) got() []store.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Entry(nil), r.changes...)
}
