package api

import (
	"log/slog"

	"github.com/certbind/certbind/internal/backupapi"
	"github.com/certbind/certbind/internal/stream"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// DeploymentFeed is what the deployment stream reads from the store: the
// changes since a revision (changefeed.Log) and a snapshot of every
// deployment with the revision it reflects, read at one point in time, and
// one deployment as it is now.
// Revisions increase but not necessarily by one.
type DeploymentFeed interface {
	stream.Feed[store.Entry, *store.Deployment]
	// GetDeployment returns a deployment as it is now: a change is sent
	// with the deployment's current state.
	GetDeployment(account, project, id string) (*store.Deployment, error)
}

var (
	_ DeploymentFeed = (*store.Store)(nil)
)

// NewBackup returns the BackupService handlers for st, with this service's
// error mapping.
func NewBackup(st backupapi.Source, log *slog.Logger) deploytrackerv1.BackupServiceServer {
	return backupServer{Server: backupapi.New(st, log, toStatus)}
}

// backupServer is the shared backup implementation under this service's
// name. The generated placeholder sits one level further down than the
// shared methods, so that those are the ones promoted.
type backupServer struct {
	unimplementedBackup
	*backupapi.Server
}

type unimplementedBackup struct {
	deploytrackerv1.UnimplementedBackupServiceServer
}
