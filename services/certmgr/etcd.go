package certmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store/etcdstore"
)

// sharedRotation is the master-key rotation of a replica on etcd: it
// advertises the keys this replica holds, follows the store's master key
// records and is refused (an error) if it lacks a key the store needs.
func sharedRotation(cfg Config, st backend, ring *seal.Sealer, m *certs.Manager, files masterkey.Files, staged *seal.Sealer, sealAgain func() error, log *slog.Logger, now func() time.Time) (masterkey.Rotation, error) {
	shared, ok := st.(masterkey.SharedStore)
	if !ok {
		return nil, errors.New("this store cannot rotate its master key")
	}
	name := cfg.ReplicaName
	if name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "certmgr"
		}
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return masterkey.NewShared(masterkey.SharedConfig{Store: shared, Ring: ring, Rewrap: m, Files: files, Name: name, Staged: staged,
		Log: log, Batch: cfg.rotationBatch, Step: cfg.rotationStep, Now: now, Interval: cfg.keyFollowInterval, SealAgain: sealAgain})
}

// ReloadNextKey reads the next master key file (FILE.next) again on etcd,
// so that this replica holds and advertises a next key put there after it
// started (certmgr calls it on SIGHUP). It returns the next key's id, ""
// if there is none. On bbolt a rotation writes its own next key, and this
// is an error.
func (s *Service) ReloadNextKey() (string, error) {
	shared, ok := s.keys.(*masterkey.Shared)
	if !ok {
		return "", errors.New("only a certmgr on --store etcd reads a next master key file; on bbolt `certbind admin rotate-master-key` writes its own")
	}
	return shared.StageAgain()
}

// restarter is a store whose change feed can start its history again
// (etcd's, when its watch falls behind a compaction).
type restarter interface{ SetRestarted(fn func()) }

// progresser is a store whose change feed reports its progress past
// revisions without changes (etcd's, whose revisions count every write to
// the cluster).
type progresser interface{ SetProgress(fn func(rev uint64)) }

// noBackup is the backup service of a store in etcd: the cluster is backed
// up with etcd's own snapshots (etcdctl snapshot save), every service at
// once.
type noBackup struct {
	certmgrv1.UnimplementedBackupServiceServer
}

var errBackupOnEtcd = status.Error(codes.FailedPrecondition,
	"this certmgr keeps its data in etcd: back it up with etcd's snapshots (etcdctl snapshot save), which hold every certbind service's data at once")

func (noBackup) GetBackupInfo(context.Context, *backupv1.GetBackupInfoRequest) (*backupv1.GetBackupInfoResponse, error) {
	return nil, errBackupOnEtcd
}

func (noBackup) Backup(*backupv1.BackupRequest, grpc.ServerStreamingServer[backupv1.BackupResponse]) error {
	return errBackupOnEtcd
}

var _ masterkey.SharedStore = (*etcdstore.Store)(nil)
