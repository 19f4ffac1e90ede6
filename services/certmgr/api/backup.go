package api

import (
	"bufio"
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/revlog"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// backupChunk is the most data one BackupResponse carries.
const backupChunk = 256 << 10

// Backup serves BackupService: a consistent copy of the store, for the
// admin key only.
type Backup struct {
	certmgrv1.UnimplementedBackupServiceServer
	store BackupSource
	log   *slog.Logger
}

// NewBackup returns the BackupService handlers.
func NewBackup(st BackupSource, log *slog.Logger) *Backup {
	return &Backup{store: st, log: log}
}

// GetBackupInfo returns the store's head revision and epoch.
func (s *Backup) GetBackupInfo(ctx context.Context, _ *certmgrv1.GetBackupInfoRequest) (*certmgrv1.GetBackupInfoResponse, error) {
	if _, err := adminOnly(ctx, "take a backup"); err != nil {
		return nil, toStatus(ctx, s.log, "GetBackupInfo", err)
	}
	rev, err := s.store.Revision()
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetBackupInfo", err)
	}
	return &certmgrv1.GetBackupInfoResponse{Revision: rev, Epoch: s.store.Epoch()}, nil
}

// Backup streams a header, the copy in chunks, and a trailer with its
// SHA-256. The copy comes from one read transaction, which stays open
// until the client has read the whole copy.
func (s *Backup) Backup(_ *certmgrv1.BackupRequest, stream grpc.ServerStreamingServer[certmgrv1.BackupResponse]) error {
	ctx := stream.Context()
	if _, err := adminOnly(ctx, "take a backup"); err != nil {
		return toStatus(ctx, s.log, "Backup", err)
	}
	out := bufio.NewWriterSize(sendWriter(func(b []byte) error {
		return stream.Send(&certmgrv1.BackupResponse{Part: &certmgrv1.BackupResponse_Data{Data: b}})
	}), backupChunk)
	cp, err := s.store.Backup(out, func(c revlog.Copy) error {
		return stream.Send(&certmgrv1.BackupResponse{Part: &certmgrv1.BackupResponse_Header{Header: &certmgrv1.BackupHeader{
			Revision: c.Revision, Epoch: c.Epoch, Size: c.Size,
		}}})
	})
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
		return toStatus(ctx, s.log, "Backup", err)
	}
	s.log.Info("backup taken", slog.Uint64("revision", cp.Revision), slog.String("epoch", cp.Epoch),
		slog.Int64("bytes", cp.Size), slog.String("sha256", cp.SHA256))
	return stream.Send(&certmgrv1.BackupResponse{Part: &certmgrv1.BackupResponse_Trailer{Trailer: &certmgrv1.BackupTrailer{Sha256: cp.SHA256}}})
}

// sendWriter sends each write as one message. gRPC serializes the message
// before Send returns, so the buffer may be reused.
type sendWriter func([]byte) error

func (w sendWriter) Write(p []byte) (int, error) {
	if err := w(p); err != nil {
		return 0, err
	}
	return len(p), nil
}
