package api

import (
	"io"

	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/internal/stream"
	"github.com/certbind/certbind/services/certmgr/store"
)

// CertificateFeed is what the certificate stream reads from the store: the
// changes since a revision (changefeed.Log) and a snapshot of every
// certificate with the revision it reflects, read at one point in time,
// and one certificate as it is now.
// Revisions increase but not necessarily by one.
type CertificateFeed interface {
	stream.Feed[store.Entry, *store.Certificate]
	// GetCertificate returns a certificate as it is now: a change is sent
	// with its current material.
	GetCertificate(account, project, id string) (*store.Certificate, error)
}

// BackupSource is what the backup service reads: the head revision, the
// epoch, and a consistent copy of the store written to w. The copy is the
// bbolt file as it stands (revlog.Copy says its revision, epoch and size),
// which only the bbolt store can make; a backend that keeps its state
// elsewhere takes its backups with its own tools and need not serve this.
type BackupSource interface {
	Revision() (uint64, error)
	Epoch() string
	Backup(w io.Writer, start func(revlog.Copy) error) (revlog.Copy, error)
}

var (
	_ CertificateFeed = (*store.Store)(nil)
	_ BackupSource    = (*store.Store)(nil)
)
