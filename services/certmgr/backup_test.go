package certmgr_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"

	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/services/certmgr/store"
)

// A backup is a store file that opens at the revision and epoch its
// header names, checked by the SHA-256 of its trailer, and holds private
// keys only sealed.
func TestBackupCopiesTheStore(t *testing.T) {
	s := startServer(t)
	var keys [][]byte
	for _, name := range []string{"a1", "a2", "a3"} {
		req, leaf := clientUpload(t, name)
		if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(leaf.Key)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, der, []byte(req.PrivateKeyPem))
	}
	head := s.revision()
	stream, err := certmgrv1.NewBackupServiceClient(s.conn).Backup(as(adminKey), &backupv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var header *backupv1.BackupHeader
	var data []byte
	var sum string
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if h := m.GetHeader(); h != nil {
			header = h
		}
		data = append(data, m.GetData()...)
		if tr := m.GetTrailer(); tr != nil {
			sum = tr.GetSha256()
			break
		}
	}
	got := sha256.Sum256(data)
	if header == nil || head == 0 || header.GetRevision() != head || header.GetEpoch() != epoch(t, s) || header.GetSize() != int64(len(data)) || sum != hex.EncodeToString(got[:]) {
		t.Fatalf("header %v, %d bytes, trailer sha256 %s (data's %x): want revision %d of the store's epoch, its size and checksum", header, len(data), sum, got, head)
	}
	for _, k := range keys {
		if bytes.Contains(data, k) {
			t.Fatal("the backup holds a private key in the clear")
		}
	}
	path := filepath.Join(t.TempDir(), "certmgr.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("the copy does not open as a store: %v", err)
	}
	defer st.Close()
	if rev, _ := st.Revision(); rev != head || st.Epoch() != header.GetEpoch() {
		t.Errorf("the copy opens at revision %d of epoch %s, want %d of %s", rev, st.Epoch(), head, header.GetEpoch())
	}
	info, err := certmgrv1.NewBackupServiceClient(s.conn).GetBackupInfo(as(adminKey), &backupv1.GetBackupInfoRequest{})
	if err != nil || info.GetRevision() != head || info.GetEpoch() != header.GetEpoch() {
		t.Errorf("GetBackupInfo = %v, %v; want revision %d of epoch %s", info, err, head, header.GetEpoch())
	}
}

// Only the admin key takes a backup: private keys are in it, sealed.
func TestBackupAdminOnly(t *testing.T) {
	s := startServer(t)
	account, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	edge, err := createKey(s, "acme", "edge")
	if err != nil {
		t.Fatal(err)
	}
	client := certmgrv1.NewBackupServiceClient(s.conn)
	for _, tc := range []struct {
		key  string
		code codes.Code
	}{{account, codes.PermissionDenied}, {edge, codes.PermissionDenied}, {"not-a-key", codes.Unauthenticated}} {
		_, err := client.GetBackupInfo(as(tc.key), &backupv1.GetBackupInfoRequest{})
		wantCode(t, err, tc.code, "")
		stream, err := client.Backup(as(tc.key), &backupv1.BackupRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		wantCode(t, err, tc.code, "")
	}
}
