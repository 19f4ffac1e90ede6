package certmgr_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestRevokeEndsStalledStream revokes an edge key whose stream has stopped
// reading in the middle of a snapshot, so that the server is blocked in
// sending it private keys: the stream still ends at once on the server,
// rather than when the stall watchdog gives up on it a minute later. With
// room for one stream in all, another key's stream opens right after the
// revocation.
func TestRevokeEndsStalledStream(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400 certificates")
	}
	s := startServer(t, withLimits(changefeed.Limits{PerKey: 1, PerConn: 1, Total: 1}))
	edge := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge"})
	next := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge"})
	// About 5 KiB a certificate: a snapshot of 400 is larger than a
	// stream's window and gRPC's write quota together.
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("host-%02d.a-rather-long-name.shop.example.com", i))
	}
	leaf := testpki.NewCA(t, "Test Root").Issue(t, testpki.Options{CommonName: "big.client", DNSNames: names})
	for i := range 400 {
		req := &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: fmt.Sprintf("c%d", i),
			EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}
		if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := grpc.NewClient(s.conn.Target(), append(serve.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := certmgrv1.NewDistributionServiceClient(conn).WatchCertificates(as(edge.GetKey()), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	open := func() int { return s.svc.Authenticator().OpenStreams().Open(edge.GetId()) }
	deadline := time.Now().Add(5 * time.Second)
	for open() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stream is not open on the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the server fills the window and blocks

	start := time.Now()
	if _, err := s.keys().RevokeApiKey(as(adminKey), &certmgrv1.RevokeApiKeyRequest{Id: edge.GetId()}); err != nil {
		t.Fatal(err)
	}
	// The revoked stream's place is free once its handler has returned.
	for {
		st, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(next.GetKey()), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
		if err == nil {
			_, err = st.Recv()
		}
		if err == nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%v after the revocation, the revoked key's stalled stream still holds the only place: %v", time.Since(start), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("another key's stream opened %v after the revocation began", time.Since(start))
	// What the client reads now is what was in flight before: it ends
	// without the rest of the snapshot.
	items := 0
	for {
		ev, err := stream.Recv()
		if err != nil {
			break
		}
		if ev.GetSnapshotItem() != nil {
			items++
		}
	}
	t.Logf("the client read %d snapshot items after the revocation", items)
	if items >= 400 {
		t.Errorf("the client read the whole snapshot (%d items) after its key was revoked", items)
	}
}
