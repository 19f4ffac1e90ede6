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
//
// The suite is in two parts: what every backend keeps (Store), and the
// change feed (Feed), checked only on a store that implements it, so that
// a backend's reads and writes can be held to the rules before its feed
// exists.
package storetest

import (
	"time"

	"github.com/certbind/certbind/services/certmgr/store"
)

// Store is the reads and writes of a certmgr store backend that the suite
// exercises: certs.Certificates, the API key records and the epoch.
type Store interface {
	CreateCertificate(c *store.Certificate) (store.Change, error)
	UpdateCertificate(account, project, id string, fn func(c *store.Certificate) (changeType string, err error)) (*store.Certificate, store.Change, error)
	DeleteCertificate(account, project, id string, check func(c *store.Certificate) error) (store.Change, error)
	GetCertificate(account, project, id string) (*store.Certificate, error)
	ListCertificates(account, project, afterName string) ([]*store.Certificate, error)
	ResolveCertificates(account, project string, names, ids []string) ([]*store.Certificate, error)
	Snapshot() ([]*store.Certificate, uint64, error)
	Epoch() string

	PutAPIKey(k store.APIKey) error
	APIKeyByHash(hash string) (store.APIKey, error)
	ListAPIKeys(account string) ([]store.APIKey, error)
	RevokeAPIKey(id, account string, at time.Time) (store.APIKey, error)
	RevokedAPIKeyIDs() ([]string, error)
	TouchAPIKeys(used map[string]time.Time) error
}

// Feed is the change feed of a backend (api.CertificateFeed's changes and
// the hub's publisher). The suite checks it, and the revisions and changes
// every write leaves in it, when the store Run opens implements it.
type Feed interface {
	ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error)
	Revision() (uint64, error)
	SetPublisher(fn func(store.Entry))
}

// Damager is implemented by a backend's test harness that can make one
// stored certificate record undecodable, as a torn or foreign write would.
// The damaged-record rules are checked only when the store Run opens
// implements it.
type Damager interface {
	DamageCertificate(account, project, id string) error
}
