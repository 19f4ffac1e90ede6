package peertls

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/certbind/certbind/internal/testpki"
)

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMutualTLS serves health over mutual TLS and checks that a peer with a
// certificate from the CA gets in and one from another CA does not.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Services CA")
	other := testpki.NewCA(t, "Other CA")
	srvCert := ca.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NoExtKeyUsage: true})
	good := ca.Issue(t, testpki.Options{CommonName: "deploytracker", NoExtKeyUsage: true})
	bad := other.Issue(t, testpki.Options{CommonName: "intruder", NoExtKeyUsage: true})
	caFile := write(t, dir, "ca.pem", ca.CertPEM)

	server := Files{Cert: write(t, dir, "s.pem", srvCert.CertPEM), Key: write(t, dir, "s.key", srvCert.KeyPEM), CA: caFile}
	opts, err := server.ServerOption()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	check := func(f Files) error {
		conn, err := f.Dial(lis.Addr().String(), "k")
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(Files{Cert: write(t, dir, "g.pem", good.CertPEM), Key: write(t, dir, "g.key", good.KeyPEM), CA: caFile}); err != nil {
		t.Fatalf("peer with a certificate from the CA: %v", err)
	}
	if err := check(Files{Cert: write(t, dir, "b.pem", bad.CertPEM), Key: write(t, dir, "b.key", bad.KeyPEM), CA: caFile}); err == nil {
		t.Fatal("a peer with another CA's certificate got in")
	}
	if err := check(Files{}); err == nil {
		t.Fatal("a plaintext peer got in")
	}
	if _, err := (Files{Cert: "x"}).ServerOption(); err == nil {
		t.Fatal("a partial TLS configuration was accepted")
	}
}
