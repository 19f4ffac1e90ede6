package certmgr_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// readBackup reads a whole backup of part and checks it against its
// header and trailer.
func readBackup(t *testing.T, s *server, part backupv1.BackupPart) (*backupv1.BackupHeader, []byte, error) {
	t.Helper()
	stream, err := certmgrv1.NewBackupServiceClient(s.conn).Backup(as(adminKey), &backupv1.BackupRequest{Part: part})
	if err != nil {
		return nil, nil, err
	}
	var header *backupv1.BackupHeader
	var data []byte
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil, nil, err
		}
		if h := m.GetHeader(); h != nil {
			header = h
		}
		data = append(data, m.GetData()...)
		if tr := m.GetTrailer(); tr != nil {
			sum := sha256.Sum256(data)
			if header == nil || header.GetSize() != int64(len(data)) || tr.GetSha256() != hex.EncodeToString(sum[:]) {
				t.Fatalf("header %v, trailer %v, %d bytes: the copy does not match them", header, tr, len(data))
			}
			return header, data, nil
		}
	}
}

// A backup of the webhook file is webhooks.db as it stands: its header
// names the part, the cursor and the epoch of the store it follows; the
// copy holds the webhook and its delivery, and the secret only sealed.
// Only the admin key takes it.
func TestBackupCopiesTheWebhookFile(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	s := startServer(t, withWebhooks(t, clk, rcv.pool()))
	created, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "copied", Url: rcv.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := clientUpload(t, "watched")
	if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	s.pass()

	header, data, err := readBackup(t, s, backupv1.BackupPart_BACKUP_PART_WEBHOOKS)
	if err != nil {
		t.Fatal(err)
	}
	if header.GetPart() != backupv1.BackupPart_BACKUP_PART_WEBHOOKS || header.GetEpoch() != epoch(t, s) || header.GetRevision() != s.revision() {
		t.Errorf("header %v: want the webhooks part, the store's epoch %s and revision %d", header, epoch(t, s), s.revision())
	}
	if bytes.Contains(data, []byte(created.GetSecret())) {
		t.Fatal("the copy holds a webhook secret in the clear")
	}
	path := filepath.Join(t.TempDir(), "webhooks.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := webhook.CheckFile(path)
	if err != nil || info.Webhooks != 1 || info.Deliveries != 1 || info.Pending != 0 || info.Epoch != header.GetEpoch() {
		t.Fatalf("the copy: %+v, %v", info, err)
	}
	got, err := certmgrv1.NewBackupServiceClient(s.conn).GetBackupInfo(as(adminKey), &backupv1.GetBackupInfoRequest{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS})
	if err != nil || got.GetEpoch() != header.GetEpoch() || got.GetRevision() != header.GetRevision() {
		t.Errorf("GetBackupInfo of the webhook file = %v, %v", got, err)
	}
	// The store's copy says it is the store.
	if h, _, err := readBackup(t, s, backupv1.BackupPart_BACKUP_PART_UNSPECIFIED); err != nil || h.GetPart() != backupv1.BackupPart_BACKUP_PART_STORE {
		t.Errorf("store backup header %v, %v", h, err)
	}

	account, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := certmgrv1.NewBackupServiceClient(s.conn).Backup(as(account), &backupv1.BackupRequest{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = certmgrv1.NewBackupServiceClient(s.conn).GetBackupInfo(as(account), &backupv1.GetBackupInfoRequest{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS})
	wantCode(t, err, codes.PermissionDenied, "")
	stream, err = certmgrv1.NewBackupServiceClient(s.conn).Backup(as(adminKey), &backupv1.BackupRequest{Part: backupv1.BackupPart(99)})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.InvalidArgument, "not one this service knows")
}
