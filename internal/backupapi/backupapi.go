// Package backupapi serves BackupService, a consistent copy of a running
// service's store, for certmgr and the deploytracker alike.
package backupapi

import (
	"bufio"
	"context"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/revlog"
	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
)

// Source is what the backup service reads: the head revision, the epoch,
// and a consistent copy of the store written to w. The copy is the bbolt
// file as it stands (revlog.Copy says its revision, epoch and size), which
// only the bbolt store can make; a backend that keeps its state elsewhere
// takes its backups with its own tools and need not serve this.
type Source interface {
	Revision() (uint64, error)
	Epoch() string
	Backup(w io.Writer, start func(revlog.Copy) error) (revlog.Copy, error)
}

// ErrorMapper turns an error of a call into the status the caller gets,
// logging what the caller is not told: the service's own error mapper.
type ErrorMapper func(ctx context.Context, log *slog.Logger, method string, err error) error

// chunk is the most data one BackupResponse carries.
const chunk = 256 << 10

// Server serves a BackupService for one store, and the other files of its
// service's state, to the admin key only. Each service gives it its own
// service name (see its api.NewBackup).
type Server struct {
	parts    map[backupv1.BackupPart]*part
	log      *slog.Logger
	toStatus ErrorMapper
}

// part is one file a Server copies.
type part struct {
	src  Source
	name string
	// running holds a token while a backup of this file runs: one at a
	// time, since each spools a whole copy of the file beside it (see
	// revlog.SpoolCopy), and several at once could fill its disk. Each
	// file has its own, so that a client copying one file after another
	// never finds the previous file's backup still ending.
	running chan struct{}
}

// Part is a file a Server copies besides the store: Source serves it, and
// Name says it in errors and logs (for example "webhooks.db").
type Part struct {
	Part   backupv1.BackupPart
	Name   string
	Source Source
}

// New returns the BackupService handlers for st and the parts; errors go
// through toStatus.
func New(st Source, log *slog.Logger, toStatus ErrorMapper, parts ...Part) *Server {
	s := &Server{log: log, toStatus: toStatus, parts: map[backupv1.BackupPart]*part{
		backupv1.BackupPart_BACKUP_PART_STORE: {src: st, name: "store", running: make(chan struct{}, 1)},
	}}
	for _, p := range parts {
		s.parts[p.Part] = &part{src: p.Source, name: p.Name, running: make(chan struct{}, 1)}
	}
	return s
}

// part returns the file a request names; unspecified is the store.
func (s *Server) part(p backupv1.BackupPart) (backupv1.BackupPart, *part, error) {
	if p == backupv1.BackupPart_BACKUP_PART_UNSPECIFIED {
		p = backupv1.BackupPart_BACKUP_PART_STORE
	}
	if pt, ok := s.parts[p]; ok {
		return p, pt, nil
	}
	if p == backupv1.BackupPart_BACKUP_PART_WEBHOOKS {
		return p, nil, status.Error(codes.FailedPrecondition, "this service keeps no webhook file: only certmgr on bbolt has webhooks.db")
	}
	return p, nil, status.Errorf(codes.InvalidArgument, "backup part %d is not one this service knows: ask for the store or the webhook file", p)
}

func adminOnly(ctx context.Context) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	return auth.AdminOnly(p, "take a backup")
}

// GetBackupInfo returns the store's head revision and epoch.
func (s *Server) GetBackupInfo(ctx context.Context, req *backupv1.GetBackupInfoRequest) (*backupv1.GetBackupInfoResponse, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, s.toStatus(ctx, s.log, "GetBackupInfo", err)
	}
	_, pt, err := s.part(req.GetPart())
	if err != nil {
		return nil, err
	}
	rev, err := pt.src.Revision()
	if err != nil {
		return nil, s.toStatus(ctx, s.log, "GetBackupInfo", err)
	}
	return &backupv1.GetBackupInfoResponse{Revision: rev, Epoch: pt.src.Epoch()}, nil
}

// Backup streams a header, the copy in chunks, and a trailer with its
// SHA-256. The copy comes from one read transaction, which stays open
// until the client has read the whole copy.
func (s *Server) Backup(req *backupv1.BackupRequest, stream grpc.ServerStreamingServer[backupv1.BackupResponse]) error {
	ctx := stream.Context()
	if err := adminOnly(ctx); err != nil {
		return s.toStatus(ctx, s.log, "Backup", err)
	}
	which, pt, err := s.part(req.GetPart())
	if err != nil {
		return err
	}
	select {
	case pt.running <- struct{}{}:
		defer func() { <-pt.running }()
	default:
		return status.Errorf(codes.ResourceExhausted, "a backup of this %s is already running (each takes a copy of it on its disk): try again when it ends", pt.name)
	}
	out := bufio.NewWriterSize(sendWriter(func(b []byte) error {
		return stream.Send(&backupv1.BackupResponse{Part: &backupv1.BackupResponse_Data{Data: b}})
	}), chunk)
	cp, err := pt.src.Backup(out, func(c revlog.Copy) error {
		return stream.Send(&backupv1.BackupResponse{Part: &backupv1.BackupResponse_Header{Header: &backupv1.BackupHeader{
			Revision: c.Revision, Epoch: c.Epoch, Size: c.Size, Part: which,
		}}})
	})
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		// A failed Send already carries the stream's status.
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
		return s.toStatus(ctx, s.log, "Backup", err)
	}
	s.log.Info("backup taken", slog.String("file", pt.name), slog.Uint64("revision", cp.Revision), slog.String("epoch", cp.Epoch),
		slog.Int64("bytes", cp.Size), slog.String("sha256", cp.SHA256))
	return stream.Send(&backupv1.BackupResponse{Part: &backupv1.BackupResponse_Trailer{Trailer: &backupv1.BackupTrailer{Sha256: cp.SHA256}}})
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
