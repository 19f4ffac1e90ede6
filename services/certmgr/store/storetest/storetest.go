// Package storetest holds the rules every certmgr store backend must keep,
// as one suite: Run it from the backend's tests with a function that opens
// a new, empty store. The bbolt store runs it in store's tests; a second
// backend adds a test that runs it too.
//
// The suite checks what the rest of certmgr relies on (certs.Certificates,
// api.CertificateFeed, auth.KeyStore and auth.KeyLifecycle, the hub's
// publisher): create-if-absent names, revisions that increase (never
// assumed to increase by one), changes since a revision, the delete
// protocol's mark and check, the marks of an environment-type removal, API
// key records, epochs and damaged records. Operations only the bbolt file
// has (backup as a file copy, re-seal walks, scans) are not part of it.
package storetest

import (
	"time"

	"github.com/certbind/certbind/services/certmgr/store"
)

// Store is everything of a certmgr store backend the suite exercises.
type Store interface {
	CreateCertificate(c *store.Certificate) (store.Change, error)
	UpdateCertificate(account, project, id string, fn func(c *store.Certificate) (changeType string, err error)) (*store.Certificate, store.Change, error)
	DeleteCertificate(account, project, id string, check func(c *store.Certificate) error) (store.Change, error)
	GetCertificate(account, project, id string) (*store.Certificate, error)
	ListCertificates(account, project, afterName string) ([]*store.Certificate, error)
	ResolveCertificates(account, project string, names, ids []string) ([]*store.Certificate, error)
	Snapshot() ([]*store.Certificate, uint64, error)
	ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error)
	Revision() (uint64, error)
	Epoch() string
	SetPublisher(fn func(store.Entry))

	PutAPIKey(k store.APIKey) error
	APIKeyByHash(hash string) (store.APIKey, error)
	ListAPIKeys(account string) ([]store.APIKey, error)
	RevokeAPIKey(id, account string, at time.Time) (store.APIKey, error)
	RevokedAPIKeyIDs() ([]string, error)
	TouchAPIKeys(used map[string]time.Time) error
}

// Damager is implemented by a backend's test harness that can make one
// stored certificate record undecodable, as a torn or foreign write would.
// The damaged-record rules are checked only when the store Run opens
// implements it.
type Damager interface {
	DamageCertificate(account, project, id string) error
}
