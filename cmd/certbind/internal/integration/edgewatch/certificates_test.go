package edgewatch_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

const (
	adminKey   = "admin-0123456789abcdef0123456789abcdef"
	serviceKey = "service"
)

// certmgrOn runs certmgr with its data in dir on addr ("" for any port)
// and returns its address and a stop function.
func certmgrOn(t *testing.T, dir, addr string, retention int) (string, func()) {
	t.Helper()
	svc, err := certmgr.New(certmgr.Config{DataDir: filepath.Join(dir, "data"), MasterKeyFile: filepath.Join(dir, "master.key"),
		CreateMasterKey: true, AdminKey: adminKey, ServiceKey: serviceKey, Retention: retention, Stream: changefeed.Options{Heartbeat: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	for i := 0; ; i++ { // the port of a stopped server may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := svc.NewGRPCServer()
	go srv.Serve(lis)
	stopped := false
	stop := func() {
		if !stopped {
			srv.Stop()
			svc.Close()
			stopped = true
		}
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func client(t *testing.T, addr string) certmgrv1.CertificateServiceClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return certmgrv1.NewCertificateServiceClient(conn)
}

func admin() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminKey)
}

func upload(t *testing.T, c certmgrv1.CertificateServiceClient, name string, leaf *testpki.Cert) string {
	t.Helper()
	r, err := c.CreateCertificate(admin(), &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: name,
		EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetCertificate().GetId()
}

// until waits for cond on the store's snapshot.
func until(t *testing.T, st *state.Store, what string, cond func(*state.Snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(st.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge state never got to: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCertificatesFollowSnapshotChangesAndResync(t *testing.T) {
	dir := t.TempDir()
	addr, stop := certmgrOn(t, dir, "", 3)
	certs := client(t, addr)
	ca := testpki.NewCA(t, "Root")
	keep := upload(t, certs, "keep", ca.Issue(t, testpki.Options{CommonName: "keep-v1"}))
	gone := upload(t, certs, "gone", ca.Issue(t, testpki.Options{CommonName: "gone"}))

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

	// The snapshot arrives whole, with usable TLS material.
	until(t, st, "both certificates", func(s *state.Snapshot) bool { return len(s.Certificates) == 2 })
	c := st.Load().Certificate(keep)
	if c.TLS == nil || c.TLS.Leaf.Subject.CommonName != "keep-v1" || c.Version != 1 || !f.Status().Synced {
		t.Fatalf("after the snapshot: %+v, status %+v", c, f.Status())
	}
	// Live changes: a rotation is a new version with new material.
	if _, err := certs.RotateCertificate(admin(), &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: keep,
		CertificatePem: string(ca.Issue(t, testpki.Options{CommonName: "keep-v2"}).CertPEM), PrivateKeyPem: ""}); err == nil {
		t.Fatal("a rotation without its key was accepted")
	}
	v2 := ca.Issue(t, testpki.Options{CommonName: "keep-v2"})
	if _, err := certs.RotateCertificate(admin(), &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: keep,
		CertificatePem: string(v2.CertPEM), PrivateKeyPem: string(v2.KeyPEM)}); err != nil {
		t.Fatal(err)
	}
	until(t, st, "version 2", func(s *state.Snapshot) bool {
		c := s.Certificate(keep)
		return c != nil && c.Version == 2 && c.TLS.Leaf.Subject.CommonName == "keep-v2"
	})

	// certmgr goes away; while it is away (from the edge's point of view)
	// more changes happen than it retains, including a delete.
	stop()
	time.Sleep(100 * time.Millisecond)
	addr2, _ := certmgrOn(t, dir, addr, 3)
	certs = client(t, addr2)
	if _, err := certs.DeleteCertificate(admin(), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: gone}); err != nil {
		t.Fatal(err)
	}
	added := ""
	for _, n := range []string{"a1", "a2", "a3", "a4"} {
		added = upload(t, certs, n, ca.Issue(t, testpki.Options{CommonName: n}))
	}
	// The follower reconnects from its revision, is told to resync, and
	// swaps in the new snapshot: the deleted certificate is gone, the new
	// ones are there.
	until(t, st, "the state after the resync", func(s *state.Snapshot) bool {
		return s.Certificate(gone) == nil && s.Certificate(added) != nil && len(s.Certificates) == 5
	})
	if st := f.Status(); st.Resyncs < 2 || !st.Connected {
		t.Fatalf("status after the resync: %+v (want a second resync)", st)
	}
}
