package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

const progressAdminKey = "progress-admin-0123456789abcdef0123456789abcdef"

// replica starts a certmgr replica on etcd, in this process, serving gRPC
// on loopback; it stops when the test ends.
func replica(t *testing.T, cli *clientv3.Client, prefix, masterKey string) certmgrv1.DistributionServiceClient {
	t.Helper()
	svc, err := certmgr.New(certmgr.Config{Etcd: cli, EtcdPrefix: prefix, MasterKeyFile: masterKey, CreateMasterKey: true,
		AdminKey: progressAdminKey, Logger: slog.New(slog.DiscardHandler), Stream: changefeed.Options{Heartbeat: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := svc.NewGRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		svc.Close()
	})
	return certmgrv1.NewDistributionServiceClient(conn)
}

// TestIdleSubscriberKeepsUpWithEtcd: a subscriber whose stream has no
// change for a while, as etcd's revision moves on with other services'
// writes, gets heartbeats carrying the replica's progress through those
// revisions. After etcd compacts its history past the subscriber's last
// change, it resumes from its heartbeat's revision on a replica started
// after the compaction, without a resync, and gets the next change.
func TestIdleSubscriberKeepsUpWithEtcd(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+progressAdminKey), 60*time.Second)
	defer cancel()
	masterKey := filepath.Join(t.TempDir(), "master.key")
	a := replica(t, cli, prefix+"certmgr/", masterKey)
	stream, err := a.WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var rev uint64
	var epoch string
	for epoch == "" {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for the snapshot: %v", err)
		}
		if c := m.GetSnapshotComplete(); c != nil {
			rev, epoch = c.GetRevision(), c.GetEpoch()
		}
	}
	// Another service writes to etcd: no certificate changes.
	var other int64
	for range 5 {
		resp, err := cli.Put(ctx, prefix+"deploytracker/other", time.Now().String())
		if err != nil {
			t.Fatal(err)
		}
		other = resp.Header.Revision
	}
	// The idle subscriber's heartbeats reach the other service's last
	// revision.
	for rev < uint64(other) {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("waiting for a heartbeat at revision %d or later (the last was at %d): %v", other, rev, err)
		}
		switch {
		case m.GetHeartbeat() != nil:
			rev = m.GetHeartbeat().GetRevision()
		case m.GetChange() != nil:
			t.Fatalf("a change on a stream whose certificates did not change: %v", m)
		}
	}
	cancel()
	t.Logf("the idle subscriber's heartbeat reached revision %d (the other service's last write %d)", rev, other)

	// etcd compacts its history up to there, and a replica starts.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if _, err := cli.Compact(cctx, int64(rev), clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	b := replica(t, testetcd.NewClient(t), prefix+"certmgr/", masterKey)
	ctx, cancel = context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+progressAdminKey), 60*time.Second)
	defer cancel()
	resumed, err := b.WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{FromRevision: rev, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	// A certificate created now arrives as the next change, with no
	// resync before it.
	ca := testpki.NewCA(t, "Client CA")
	leaf := ca.Issue(t, testpki.Options{CommonName: "client"})
	conn := certmgrClient(t, cli, prefix, masterKey)
	if _, err := conn.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: "afterCompaction",
		CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM), EnvironmentTypes: []string{"production"}}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := resumed.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetResync() != nil {
			t.Fatalf("resuming at revision %d after a compaction at %d: resync %q, want the changes after it", rev, rev, m.GetResync().GetReason())
		}
		if c := m.GetChange(); c != nil {
			if got := c.GetMaterial().GetCertificate().GetName(); got != "afterCompaction" {
				t.Fatalf("change of %q, want afterCompaction", got)
			}
			return
		}
	}
}

// certmgrClient returns a certificate client of a third replica.
func certmgrClient(t *testing.T, cli *clientv3.Client, prefix, masterKey string) certmgrv1.CertificateServiceClient {
	t.Helper()
	svc, err := certmgr.New(certmgr.Config{Etcd: cli, EtcdPrefix: prefix + "certmgr/", MasterKeyFile: masterKey,
		AdminKey: progressAdminKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := svc.NewGRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		svc.Close()
	})
	return certmgrv1.NewCertificateServiceClient(conn)
}
