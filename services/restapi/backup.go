package restapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// The backup download is a plain HTTP handler, not grpc-gateway: the copy is
// a stream of bytes, served as application/octet-stream with its
// description in headers and its SHA-256 in a trailer, so that a client
// writes it to a file as it arrives and can tell a complete copy from one
// cut short.
//
//	GET /v1/admin/backup/{store}       the copy (store: certmgr, certmgr-webhooks or deploytracker)
//	GET /v1/admin/backup/{store}/info  {"revision": "12", "epoch": "…"}
//
// certmgr-webhooks is certmgr's webhook file, webhooks.db; its revision and
// epoch are those of certmgr's changes it has followed.
const (
	// HeaderBackupRevision, HeaderBackupEpoch and HeaderBackupSize
	// describe the copy; TrailerBackupSHA256 follows a complete one and
	// TrailerBackupError one that failed part-way.
	HeaderBackupRevision = "X-Certbind-Revision"
	HeaderBackupEpoch    = "X-Certbind-Epoch"
	HeaderBackupSize     = "X-Certbind-Size"
	TrailerBackupSHA256  = "X-Certbind-Sha256"
	TrailerBackupError   = "X-Certbind-Error"
)

// handleBackups registers the backup download on mux.
func handleBackups(mux *runtime.ServeMux, log *slog.Logger, certmgr, deploytracker grpc.ClientConnInterface) error {
	sources := map[string]backupSource{
		"certmgr":          {certmgrv1.NewBackupServiceClient(certmgr), backupv1.BackupPart_BACKUP_PART_STORE},
		"certmgr-webhooks": {certmgrv1.NewBackupServiceClient(certmgr), backupv1.BackupPart_BACKUP_PART_WEBHOOKS},
		"deploytracker":    {deploytrackerv1.NewBackupServiceClient(deploytracker), backupv1.BackupPart_BACKUP_PART_STORE},
	}
	source := func(w http.ResponseWriter, name string) (backupSource, bool) {
		src, ok := sources[name]
		if !ok {
			writeError(w, status.Errorf(codes.NotFound, "no store %q to back up: use certmgr, certmgr-webhooks or deploytracker", name))
		}
		return src, ok
	}
	if err := mux.HandlePath(http.MethodGet, "/v1/admin/backup/{store}/info", func(w http.ResponseWriter, r *http.Request, p map[string]string) {
		src, ok := source(w, p["store"])
		if !ok {
			return
		}
		info, err := src.client.GetBackupInfo(withAuthorization(r), &backupv1.GetBackupInfoRequest{Part: src.part})
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"revision": strconv.FormatUint(info.GetRevision(), 10), "epoch": info.GetEpoch()})
	}); err != nil {
		return err
	}
	return mux.HandlePath(http.MethodGet, "/v1/admin/backup/{store}", func(w http.ResponseWriter, r *http.Request, p map[string]string) {
		src, ok := source(w, p["store"])
		if !ok {
			return
		}
		serveBackup(w, r, log, p["store"], src)
	})
}

// backupSource is a service's BackupService and the file of it asked for.
// The two services' BackupServices share their messages, so one client
// interface serves for both.
type backupSource struct {
	client certmgrv1.BackupServiceClient
	part   backupv1.BackupPart
}

func serveBackup(w http.ResponseWriter, r *http.Request, log *slog.Logger, name string, src backupSource) {
	ctx, cancel := context.WithCancel(withAuthorization(r))
	defer cancel()
	stream, err := src.client.Backup(ctx, &backupv1.BackupRequest{Part: src.part})
	var first *backupv1.BackupHeader
	if err == nil {
		var m *backupv1.BackupResponse
		m, err = stream.Recv()
		first = m.GetHeader()
	}
	if err == nil && first == nil {
		err = status.Error(codes.Internal, "the backup stream did not start with its header")
	}
	// A service from before parts ignores the part asked for and copies its
	// store: that copy must not be served as another file.
	if got := first.GetPart(); err == nil && got != src.part && (src.part != backupv1.BackupPart_BACKUP_PART_STORE || got != backupv1.BackupPart_BACKUP_PART_UNSPECIFIED) {
		err = status.Errorf(codes.Unimplemented, "the service behind %s does not copy that file (it is older than this REST facade): upgrade it", name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// A large copy takes longer than the server's write timeout, which is
	// meant for ordinary calls.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		log.Warn("backup download keeps the server's write timeout", slog.String("store", name), slog.String("error", err.Error()))
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+".db"))
	h.Set(HeaderBackupRevision, strconv.FormatUint(first.GetRevision(), 10))
	h.Set(HeaderBackupEpoch, first.GetEpoch())
	h.Set(HeaderBackupSize, strconv.FormatInt(first.GetSize(), 10))
	h.Set("Trailer", TrailerBackupSHA256+", "+TrailerBackupError)
	w.WriteHeader(http.StatusOK)
	for {
		part, err := stream.Recv()
		if err != nil {
			// The status is sent; the missing checksum and the error
			// trailer tell the client the copy is incomplete.
			log.Warn("backup download failed part-way", slog.String("store", name), slog.String("error", err.Error()))
			h.Set(TrailerBackupError, status.Convert(err).Message())
			return
		}
		if t := part.GetTrailer(); t != nil {
			h.Set(TrailerBackupSHA256, t.GetSha256())
			return
		}
		if _, err := w.Write(part.GetData()); err != nil {
			return // the client went away; cancel ends the stream
		}
	}
}

// withAuthorization carries the request's Authorization header to the
// service, as grpc-gateway does for the other calls.
func withAuthorization(r *http.Request) context.Context {
	ctx := r.Context()
	if a := r.Header.Get("Authorization"); a != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	return ctx
}

// writeError answers with the HTTP status and JSON body grpc-gateway uses
// for a gRPC error.
func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	json.NewEncoder(w).Encode(map[string]any{"code": int(st.Code()), "message": st.Message(), "details": []any{}})
}
