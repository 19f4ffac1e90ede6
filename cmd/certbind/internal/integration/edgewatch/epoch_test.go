package edgewatch_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// certmgr's store is put back to a copy taken earlier, with a new epoch,
// and takes as many new writes as the follower had seen since: the
// follower, which resumes from that same revision, is told to resync and
// holds exactly the restored store's certificates.
func TestCertificatesResyncAfterRestore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "certmgr.db")
	addr, stop := certmgrOn(t, dir, "", 0)
	certs := client(t, addr)
	ca := testpki.NewCA(t, "Root")
	keep := upload(t, certs, "keep", ca.Issue(t, testpki.Options{CommonName: "keep"}))

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: adminKey}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := state.NewStore()
	f := watch.NewCertificates(conn, st, watch.Scope{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	until(t, st, "the first certificate", func(s *state.Snapshot) bool { return s.Certificate(keep) != nil })

	// The backup: a copy of the file while certmgr is stopped.
	stop()
	backup, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop = certmgrOn(t, dir, addr, 0)
	certs = client(t, addr)
	after := upload(t, certs, "afterBackup", ca.Issue(t, testpki.Options{CommonName: "after"}))
	until(t, st, "the certificate made after the backup", func(s *state.Snapshot) bool { return s.Certificate(after) != nil })
	held := f.Status()

	// The restore, then as many writes as the follower saw since the
	// backup, while the follower waits to reconnect.
	stop()
	if err := os.WriteFile(db, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Restamp(db); err != nil {
		t.Fatal(err)
	}
	// The write goes to the file before certmgr serves it, so that the
	// follower cannot reconnect in between.
	restored, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, ch, err := restored.UpdateCertificate("acme", "shop", keep, func(c *store.Certificate) (string, error) {
		c.EnvironmentTypes = append(c.EnvironmentTypes, "development")
		return store.ChangeUpdated, nil
	})
	restored.Close()
	if err != nil || ch.Revision != held.Revision {
		t.Fatalf("write after the restore: revision %d (%v), want %d", ch.Revision, err, held.Revision)
	}
	certmgrOn(t, dir, addr, 0)

	until(t, st, "the restored state", func(s *state.Snapshot) bool {
		c := s.Certificate(keep)
		return c != nil && len(c.EnvironmentTypes) == 2 && s.Certificate(after) == nil && len(s.Certificates) == 1
	})
	now := f.Status()
	if now.Revision != held.Revision || now.Epoch == held.Epoch || now.Epoch == "" || now.Resyncs < 2 {
		t.Errorf("after the restore: %+v; before: %+v (want the same revision, a new epoch and a second resync)", now, held)
	}
}
