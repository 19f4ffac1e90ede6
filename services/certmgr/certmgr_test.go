package certmgr_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

const adminKey = "test-admin-key-0123456789abcdef0123456789abcdef"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a certmgr on a loopback listener with its state in dir.
type server struct {
	t    *testing.T
	dir  string
	svc  *certmgr.Service
	srv  *grpc.Server
	conn *grpc.ClientConn
	logs *syncBuffer
	cfg  certmgr.Config
}

func startServer(t *testing.T, mutate ...func(*certmgr.Config)) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, logs: &syncBuffer{}}
	s.cfg = certmgr.Config{
		DataDir:         filepath.Join(dir, "data"),
		MasterKeyFile:   filepath.Join(dir, "master.key"),
		CreateMasterKey: true,
		AdminKey:        adminKey,
		Logger:          slog.New(slog.NewJSONHandler(s.logs, nil)),
		Stream:          changefeed.Options{Heartbeat: 50 * time.Millisecond},
	}
	for _, m := range mutate {
		m(&s.cfg)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	svc, err := certmgr.New(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.svc, s.srv = svc, svc.NewGRPCServer()
	go s.srv.Serve(lis)
	s.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) stop() {
	if s.svc == nil {
		return
	}
	s.conn.Close()
	s.srv.Stop()
	if err := s.svc.Close(); err != nil {
		s.t.Error(err)
	}
	s.svc = nil
}

func (s *server) restart() {
	s.stop()
	s.start()
}

func (s *server) certs() certmgrv1.CertificateServiceClient {
	return certmgrv1.NewCertificateServiceClient(s.conn)
}

func (s *server) revision() uint64 {
	s.t.Helper()
	rev, err := s.svc.Revision()
	if err != nil {
		s.t.Fatal(err)
	}
	return rev
}

// as returns a context that sends key as the bearer token.
func as(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

func wantCode(t *testing.T, err error, code codes.Code, fragment string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if fragment != "" && !bytes.Contains([]byte(status.Convert(err).Message()), []byte(fragment)) {
		t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), fragment)
	}
}

// clientUpload is a valid upload of a fresh client certificate.
func clientUpload(t *testing.T, name string) (*certmgrv1.CreateCertificateRequest, *testpki.Cert) {
	t.Helper()
	ca := testpki.NewCA(t, "Test Root")
	leaf := ca.Issue(t, testpki.Options{CommonName: name + ".client"})
	return &certmgrv1.CreateCertificateRequest{
		Account:          "acme",
		Project:          "shop",
		Name:             name,
		EnvironmentTypes: []string{"production", "development"},
		CertificatePem:   string(leaf.CertPEM),
		PrivateKeyPem:    string(leaf.KeyPEM),
	}, leaf
}

func statusCode(err error) codes.Code { return status.Code(err) }
