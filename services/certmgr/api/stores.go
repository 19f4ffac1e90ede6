package api

import (
	"log/slog"

	"github.com/certbind/certbind/internal/backupapi"
	"github.com/certbind/certbind/internal/stream"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
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

var (
	_ CertificateFeed = (*store.Store)(nil)
)

// NewBackup returns the BackupService handlers for st and the other files
// given (the webhook file), with this service's error mapping.
func NewBackup(st backupapi.Source, log *slog.Logger, parts ...backupapi.Part) certmgrv1.BackupServiceServer {
	return backupServer{Server: backupapi.New(st, log, toStatus, parts...)}
}

// backupServer is the shared backup implementation under this service's
// name. The generated placeholder sits one level further down than the
// shared methods, so that those are the ones promoted.
type backupServer struct {
	unimplementedBackup
	*backupapi.Server
}

type unimplementedBackup struct {
	certmgrv1.UnimplementedBackupServiceServer
}
