package certmgr

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/store"
)

// errNoRotationOnEtcd is why a master-key rotation is refused on etcd: the
// rotation's walks follow the bbolt file's layout.
var errNoRotationOnEtcd = errors.New("master-key rotation is not available with --store etcd yet: keep the current master key (every replica must have the same file)")

// fixedKey is the masterkey.Resealer of a store that cannot re-seal its
// keys (etcd's, so far): it records no rotation, so none ever starts or
// resumes.
type fixedKey struct{ backend }

func (fixedKey) BeginKeyRotation([]byte, func([]byte) bool) error { return errNoRotationOnEtcd }

func (fixedKey) RewrapCertificates([]byte, int, store.Rewrap) ([]byte, store.RewrapStats, error) {
	return nil, store.RewrapStats{}, errNoRotationOnEtcd
}

func (fixedKey) RewrapChangelog(uint64, int, store.Rewrap) (uint64, bool, store.RewrapStats, error) {
	return 0, false, store.RewrapStats{}, errNoRotationOnEtcd
}

func (fixedKey) FinishKeyRotation(uint64, store.Rewrap) (bool, error) {
	return false, errNoRotationOnEtcd
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
