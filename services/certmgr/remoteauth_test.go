package certmgr_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

const (
	testAdminKey   = "remote-test-admin-0123456789abcdef0123456789"
	testServiceKey = "remote-test-service-0123456789abcdef01234567"
)

// remoteFixture is a real certmgr on loopback and an auth.Remote asking
// it. cutRevocations makes the server refuse WatchRevocations, as when the
// follower's stream cannot be kept.
func remoteFixture(t *testing.T, cutRevocations bool) (*auth.Remote, certmgrv1.ApiKeyServiceClient) {
	t.Helper()
	dir := t.TempDir()
	svc, err := certmgr.New(certmgr.Config{DataDir: filepath.Join(dir, "data"), MasterKeyFile: filepath.Join(dir, "master.key"),
		CreateMasterKey: true, AdminKey: testAdminKey, ServiceKey: testServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cutRevocations {
		opts = append(opts, grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if info.FullMethod == certmgrv1.InternalService_WatchRevocations_FullMethodName {
				return status.Error(codes.Unavailable, "cut by the test")
			}
			return h(srv, ss)
		}))
	}
	srv := svc.NewGRPCServer(opts...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	dial := func(key string) *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: key}))
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	svcConn, adminConn := dial(testServiceKey), dial(testAdminKey)
	r := auth.NewRemote(svcConn, testServiceKey, time.Hour)
	t.Cleanup(func() {
		r.Close()
		svcConn.Close()
		adminConn.Close()
		srv.Stop()
		svc.Close()
	})
	return r, certmgrv1.NewApiKeyServiceClient(adminConn)
}

func issueRemote(t *testing.T, keys certmgrv1.ApiKeyServiceClient) *certmgrv1.CreateApiKeyResponse {
	t.Helper()
	k, err := keys.CreateApiKey(context.Background(), &certmgrv1.CreateApiKeyRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRemoteHearsRevocations: with a cache TTL of an hour, a key revoked in
// certmgr is refused by Remote as soon as the revocation arrives.
func TestRemoteHearsRevocations(t *testing.T) {
	r, keys := remoteFixture(t, false)
	k := issueRemote(t, keys)
	deadline := time.Now().Add(5 * time.Second)
	for !r.Following() {
		if time.Now().After(deadline) {
			t.Fatal("Remote does not follow certmgr's revocations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p, err := r.Authenticate(k.GetKey()); err != nil || p.KeyID != k.GetId() {
		t.Fatalf("before revocation: %+v %v", p, err)
	}
	start := time.Now()
	if _, err := keys.RevokeApiKey(context.Background(), &certmgrv1.RevokeApiKeyRequest{Id: k.GetId()}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := r.Authenticate(k.GetKey())
		if errors.Is(err, auth.ErrKeyInactive) {
			t.Logf("refused %v after the revocation began", time.Since(start))
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("Remote still accepts the key 1s after its revocation (cache TTL 1h): %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if n := r.OpenStreams().Open(k.GetId()); n != 0 {
		t.Fatalf("%d streams of a revoked key open", n)
	}
}

// TestRemoteFailsSafeWithoutRevocations: when the revocation stream cannot
// be kept, Remote trusts an answer for auth.FailSafeTTL only, not its TTL.
func TestRemoteFailsSafeWithoutRevocations(t *testing.T) {
	r, keys := remoteFixture(t, true)
	k := issueRemote(t, keys)
	if _, err := r.Authenticate(k.GetKey()); err != nil {
		t.Fatal(err)
	}
	if r.Following() {
		t.Fatal("Remote says it follows revocations that the server refuses")
	}
	start := time.Now()
	if _, err := keys.RevokeApiKey(context.Background(), &certmgrv1.RevokeApiKeyRequest{Id: k.GetId()}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := r.Authenticate(k.GetKey())
		if errors.Is(err, auth.ErrKeyInactive) {
			break
		}
		if time.Since(start) > auth.FailSafeTTL+200*time.Millisecond {
			t.Fatalf("Remote still accepts the key %v after its revocation, without the revocation stream: %v", time.Since(start), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
