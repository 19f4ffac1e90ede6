package certs

import "github.com/certbind/certbind/services/certmgr/store"

// Certificates is what a Manager needs of a certificate store. The bbolt
// store (store.Store) is one; a second backend implements the same rules,
// which store/storetest checks:
//
//   - CreateCertificate is create-if-absent on the name within an account
//     and project: a second certificate with a name in use fails with
//     store.ErrNameTaken and writes nothing.
//   - Every write that changes something takes a revision greater than any
//     before it (not necessarily by one) and returns its change; an update
//     whose function returns an empty type writes nothing.
//   - UpdateCertificate and DeleteCertificate run their function on the
//     current record as part of the write, so the delete protocol's mark
//     (State deleting) and its check, and the marks of an environment-type
//     removal, are decided on what is stored, never on a stale read.
//   - A record that does not decode is read as a stand-in with Damaged set;
//     updating it fails with store.ErrUndecodable; deleting it works.
type Certificates interface {
	CreateCertificate(c *store.Certificate) (store.Change, error)
	UpdateCertificate(account, project, id string, fn func(c *store.Certificate) (changeType string, err error)) (*store.Certificate, store.Change, error)
	DeleteCertificate(account, project, id string, check func(c *store.Certificate) error) (store.Change, error)
	GetCertificate(account, project, id string) (*store.Certificate, error)
	ListCertificates(account, project, afterName string) ([]*store.Certificate, error)
	ResolveCertificates(account, project string, names, ids []string) ([]*store.Certificate, error)
	Snapshot() ([]*store.Certificate, uint64, error)
}

// Scanner walks every record of the store, decoded or not, for Verify. It
// is optional, kept apart from Certificates because its results (dangling
// name index entries, undecodable changelog entries by revision) describe
// how the bbolt file lays records out; a backend without such an index
// answers Verify with an error rather than invent findings.
type Scanner interface {
	ScanCertificates(fn func(store.CertificateRecord) error) error
	ScanNames() ([]store.DanglingName, error)
	ScanAPIKeys() (n int64, undecodable int64, err error)
	ScanChanges() (n int64, undecodable []uint64, err error)
}

var (
	_ Certificates = (*store.Store)(nil)
	_ Scanner      = (*store.Store)(nil)
)
