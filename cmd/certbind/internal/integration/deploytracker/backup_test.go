package deploytracker_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// The deploytracker's backup opens as a store at the revision and epoch of
// its header, checked by its trailer; only the admin key may take it.
func TestBackup(t *testing.T) {
	p := startPair(t)
	p.deploy(t, req("acme", "shop", "a", "production", plain(t)))
	p.deploy(t, req("acme", "shop", "b", "production", plain(t)))

	for _, role := range []string{"account", "edge"} {
		client := deploytrackerv1.NewBackupServiceClient(p.dialDeploytracker(t, p.apiKey(t, "acme", role)))
		_, err := client.GetBackupInfo(callCtx(t), &backupv1.GetBackupInfoRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetBackupInfo with an %s key: %v, want PermissionDenied", role, err)
		}
		stream, err := client.Backup(callCtx(t), &backupv1.BackupRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("Backup with an %s key: %v, want PermissionDenied", role, err)
		}
	}

	client := deploytrackerv1.NewBackupServiceClient(p.dialDeploytracker(t, adminKey))
	head := p.revision(t)
	stream, err := client.Backup(callCtx(t), &backupv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var header *backupv1.BackupHeader
	var data []byte
	var sum string
	for sum == "" {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if h := m.GetHeader(); h != nil {
			header = h
		}
		data = append(data, m.GetData()...)
		sum = m.GetTrailer().GetSha256()
	}
	got := sha256.Sum256(data)
	if head == 0 || header.GetRevision() != head || header.GetEpoch() != p.epoch(t) || header.GetSize() != int64(len(data)) || sum != hex.EncodeToString(got[:]) {
		t.Fatalf("header %v, %d bytes, trailer %s (data's %x); want revision %d", header, len(data), sum, got, head)
	}
	path := filepath.Join(t.TempDir(), "deploytracker.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("the copy does not open as a store: %v", err)
	}
	defer st.Close()
	list, rev, err := st.Snapshot()
	if err != nil || rev != head || len(list) != 2 {
		t.Errorf("the copy holds %d deployments at %d (%v), want 2 at %d", len(list), rev, err, head)
	}
	if header.GetPart() != backupv1.BackupPart_BACKUP_PART_STORE {
		t.Errorf("the header names part %v, want the store", header.GetPart())
	}

	// The deploytracker has no webhook file: asking for it is refused,
	// not answered with its store.
	hooks, err := client.Backup(callCtx(t), &backupv1.BackupRequest{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS})
	if err == nil {
		_, err = hooks.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a backup of the deploytracker's webhook file: %v, want FailedPrecondition", err)
	}
	_, err = client.GetBackupInfo(callCtx(t), &backupv1.GetBackupInfoRequest{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("the deploytracker's webhook file's info: %v, want FailedPrecondition", err)
	}
}
