package peertls

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	_ "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

func TestReplicas(t *testing.T) {
	good := []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:9090", []string{"127.0.0.1:9090"}},
		// One address is passed to gRPC as before, whatever its form.
		{"dns:///certmgr.internal:9090", []string{"dns:///certmgr.internal:9090"}},
		{"127.0.0.1:9090,127.0.0.2:9090", []string{"127.0.0.1:9090", "127.0.0.2:9090"}},
		{"[::1]:9090,cm-1.internal:9090,cm-2.internal:9090", []string{"[::1]:9090", "cm-1.internal:9090", "cm-2.internal:9090"}},
	}
	for _, c := range good {
		got, err := Replicas("--certmgr-addr", c.in)
		if err != nil || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("Replicas(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"", "is empty"},
		{"  ", "is empty"},
		{"127.0.0.1:9090,", "replica 2"},
		{",127.0.0.1:9090", "replica 1"},
		{"127.0.0.1:9090,,127.0.0.1:9091", "replica 2"},
		{"127.0.0.1:9090, 127.0.0.1:9091", "spaces"},
		{"127.0.0.1:9090,127.0.0.1", "not host:port"},
		{"127.0.0.1:9090,127.0.0.1:0", "port from 1 to 65535"},
		{"127.0.0.1:9090,127.0.0.1:65536", "port from 1 to 65535"},
		{"127.0.0.1:9090,127.0.0.1:http", "port from 1 to 65535"},
		{"127.0.0.1:9090,:9091", "needs a host"},
		{"127.0.0.1:9090,127.0.0.1:9090", "listed twice"},
		{"dns:///a:1,dns:///b:1", "not host:port"},
	}
	for _, c := range bad {
		_, err := Replicas("--certmgr-addr", c.in)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "--certmgr-addr") {
			t.Errorf("Replicas(%q) = %v; want an error naming the flag and saying %q", c.in, err, c.says)
		}
	}
	if _, err := (Files{}).Dial("127.0.0.1:1,", ""); err == nil {
		t.Error("Dial accepted an address list with an empty replica")
	}
}

func FuzzReplicas(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9090", "a:1,b:2", "[::1]:1,[::1]:2", ",", "a:1,a:1", "a:99999,b:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := Replicas("--x", s)
		if err != nil {
			if addrs != nil {
				t.Fatalf("an error with addresses %q", addrs)
			}
			return
		}
		if len(addrs) == 0 {
			t.Fatal("no address and no error")
		}
		if len(addrs) == 1 {
			if addrs[0] != s {
				t.Fatalf("one address %q came back as %q", s, addrs[0])
			}
			return
		}
		if strings.Join(addrs, ",") != s {
			t.Fatalf("%q split into %q", s, addrs)
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("replica %q of %q is not host:port", a, s)
			}
		}
	})
}

// TestReadMethodsExist checks every method the clients repeat is one of
// certbind's, so that a renamed method is not silently left without
// retries.
func TestReadMethodsExist(t *testing.T) {
	for svc, methods := range readMethods {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Errorf("service %s: %v", svc, err)
			continue
		}
		for _, m := range methods {
			if d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(m)) == nil {
				t.Errorf("%s has no method %s", svc, m)
			}
		}
	}
}

// replica is a certificate service that counts its calls and answers
// Unavailable while down is set.
type replica struct {
	certmgrv1.UnimplementedCertificateServiceServer
	calls atomic.Int64
	down  atomic.Bool
	srv   *grpc.Server
	addr  string
}

func (r *replica) GetCertificate(context.Context, *certmgrv1.GetCertificateRequest) (*certmgrv1.GetCertificateResponse, error) {
	r.calls.Add(1)
	if r.down.Load() {
		return nil, status.Error(codes.Unavailable, "going away")
	}
	return &certmgrv1.GetCertificateResponse{Certificate: &certmgrv1.Certificate{Name: r.addr}}, nil
}

func (r *replica) CreateCertificate(context.Context, *certmgrv1.CreateCertificateRequest) (*certmgrv1.CreateCertificateResponse, error) {
	r.calls.Add(1)
	if r.down.Load() {
		return nil, status.Error(codes.Unavailable, "going away")
	}
	return &certmgrv1.CreateCertificateResponse{Certificate: &certmgrv1.Certificate{Name: r.addr}}, nil
}

// TestDialReplicas serves a certificate service from two replicas over
// mutual TLS and dials both: calls go to both, a read that one answers
// Unavailable is repeated on the other, a write is not, and once one
// replica stops every read is answered by the other.
func TestDialReplicas(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Services CA")
	srvCert := ca.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NoExtKeyUsage: true})
	files := Files{Cert: write(t, dir, "s.pem", srvCert.CertPEM), Key: write(t, dir, "s.key", srvCert.KeyPEM), CA: write(t, dir, "ca.pem", ca.CertPEM)}
	opts, err := files.ServerOption()
	if err != nil {
		t.Fatal(err)
	}
	var rs [2]*replica
	var addrs []string
	for i := range rs {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{srv: grpc.NewServer(opts...), addr: lis.Addr().String()}
		certmgrv1.RegisterCertificateServiceServer(r.srv, r)
		go r.srv.Serve(lis)
		t.Cleanup(r.srv.Stop)
		rs[i] = r
		addrs = append(addrs, r.addr)
	}
	conn, err := files.Dial(strings.Join(addrs, ","), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := certmgrv1.NewCertificateServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	get := func() (string, error) {
		c, err := client.GetCertificate(ctx, &certmgrv1.GetCertificateRequest{})
		return c.GetCertificate().GetName(), err
	}

	// Both replicas serve: round_robin sends calls to each once both
	// connections are up.
	served := map[string]int{}
	for i := 0; len(served) < 2; i++ {
		if i == 1000 {
			t.Fatalf("1000 reads reached only %v", served)
		}
		name, err := get()
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		served[name]++
	}

	// Replica 0 answers Unavailable: reads are repeated on replica 1,
	// writes are not repeated.
	rs[0].down.Store(true)
	for i := range 20 {
		name, err := get()
		if err != nil || name != rs[1].addr {
			t.Fatalf("read %d with replica 0 unavailable: %q, %v; want replica 1's answer", i, name, err)
		}
	}
	before := rs[0].calls.Load()
	failed := 0
	for range 20 {
		_, err := client.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{})
		if status.Code(err) == codes.Unavailable {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := rs[0].calls.Load() - before; failed == 0 || got != int64(failed) {
		t.Fatalf("%d writes failed with Unavailable and replica 0 got %d: want some, each tried once", failed, got)
	}

	// Replica 0 stops altogether: replica 1 answers every read.
	rs[0].down.Store(false)
	rs[0].srv.Stop()
	for i := range 50 {
		name, err := get()
		if err != nil || name != rs[1].addr {
			t.Fatalf("read %d after replica 0 stopped: %q, %v", i, name, err)
		}
	}
}
