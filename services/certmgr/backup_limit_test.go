package certmgr_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/testpki"
	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestOneBackupAtATime: each backup spools a whole copy of the store beside
// it, so a second backup while one is running is refused, saying so, rather
// than adding another copy on the database's disk; once the first ends,
// the next one runs.
func TestOneBackupAtATime(t *testing.T) {
	s := startServer(t)
	// A store of about 1 MiB: its copy is larger than a 64 KiB stream
	// window and gRPC's write quota together, so a backup whose client
	// does not read stays running.
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("host-%02d.a-rather-long-name.shop.example.com", i))
	}
	leaf := testpki.NewCA(t, "Test Root").Issue(t, testpki.Options{CommonName: "big.client", DNSNames: names})
	for i := range 200 {
		req := &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: fmt.Sprintf("c%d", i),
			EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}
		if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
			t.Fatal(err)
		}
	}
	slow, err := grpc.NewClient(s.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	first, err := certmgrv1.NewBackupServiceClient(slow).Backup(as(adminKey), &backupv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := first.Recv(); err != nil || m.GetHeader() == nil {
		t.Fatalf("first backup's header: %v %v", m, err)
	}
	// The first backup runs, blocked on its reader: a second is refused.
	second, err := certmgrv1.NewBackupServiceClient(s.conn).Backup(as(adminKey), &backupv1.BackupRequest{})
	if err == nil {
		_, err = second.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "already running")
	if !strings.Contains(err.Error(), "try again") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	// The webhook file has a limit of its own: a client that copies one
	// file after the other never meets the end of the previous copy.
	if _, _, err := readBackup(t, s, backupv1.BackupPart_BACKUP_PART_WEBHOOKS); err != nil {
		t.Errorf("a backup of webhooks.db while the store's runs: %v", err)
	}
	// Reading the first to its end frees the place.
	for {
		m, err := first.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("first backup: %v", err)
		}
		if m.GetTrailer() != nil {
			continue
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		third, err := certmgrv1.NewBackupServiceClient(s.conn).Backup(as(adminKey), &backupv1.BackupRequest{})
		if err == nil {
			_, err = third.Recv()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a backup after the first ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
