package certmgr_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

// TestChangeMaterialBuiltOncePerChange: a rotation streamed to many
// subscribers unseals its key once, not once per subscriber, and every
// subscriber receives it.
func TestChangeMaterialBuiltOncePerChange(t *testing.T) {
	const subscribers = 300
	s := startServer(t, func(c *certmgr.Config) {
		c.StreamLimits = changefeed.Limits{PerKey: subscribers + 1, PerConn: subscribers + 1}
	})
	c := create(t, s, "shared")
	// The first subscriber takes a snapshot; the others resume from its
	// position, so that none of them unseals anything before the change.
	first := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	if ev := first.next(); ev.GetResync() == nil {
		t.Fatalf("want resync first, got %v", ev)
	}
	var pos *certmgrv1.SnapshotComplete
	for pos == nil {
		pos = first.next().GetSnapshotComplete()
	}

	ready := make(chan struct{}, subscribers)
	got := make(chan *certmgrv1.CertificateChange, subscribers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(as(adminKey))
	defer func() { cancel(); wg.Wait() }()
	for range subscribers {
		stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(ctx,
			&certmgrv1.WatchCertificatesRequest{FromRevision: pos.GetRevision(), Epoch: pos.GetEpoch()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ready <- struct{}{}
			for {
				ev, err := stream.Recv()
				if err != nil {
					return
				}
				if ch := ev.GetChange(); ch != nil {
					got <- ch
				}
			}
		})
	}
	for range subscribers {
		<-ready
	}
	// Every stream follows the hub before the write, so each gets the
	// change live rather than from the log.
	waitUntil(t, "every subscriber attached", func() bool { return certmgr.Subscribers(s.svc) == subscribers+1 })

	before := certmgr.Unseals(s.svc)
	leaf := testpki.NewCA(t, "Rotation Root").Issue(t, testpki.Options{CommonName: "shared.client"})
	if _, err := s.certs().RotateCertificate(as(adminKey), rotation(c.GetId(), leaf)); err != nil {
		t.Fatal(err)
	}
	for range subscribers {
		ch := <-got
		if ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED || len(ch.GetMaterial().GetPrivateKeyPkcs8()) == 0 || ch.GetMaterial().GetCertificate().GetVersion() != 2 {
			t.Fatalf("subscriber got %v, want the rotation with its key", ch)
		}
	}
	// The first subscriber's stream gets it too; its send may still be
	// under way, but the key was unsealed before any went out.
	if ch := first.change(); ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED {
		t.Fatalf("first subscriber got %v", ch)
	}
	// The rotation itself unseals nothing: it seals.
	if n := certmgr.Unseals(s.svc) - before; n != 1 {
		t.Errorf("%d unseals for one change to %d subscribers, want 1", n, subscribers+1)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
