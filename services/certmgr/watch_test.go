package certmgr_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

// watcher collects a stream's events.
type watcher struct {
	t      *testing.T
	stream certmgrv1.DistributionService_WatchCertificatesClient
	cancel context.CancelFunc
}

func watch(t *testing.T, s *server, key string, req *certmgrv1.WatchCertificatesRequest) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(as(key))
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &watcher{t: t, stream: stream, cancel: cancel}
	t.Cleanup(cancel)
	return w
}

// next returns the next event that is not a heartbeat.
func (w *watcher) next() *certmgrv1.WatchCertificatesResponse {
	w.t.Helper()
	for {
		ev, err := w.stream.Recv()
		if err != nil {
			w.t.Fatalf("recv: %v", err)
		}
		if ev.GetHeartbeat() == nil {
			return ev
		}
	}
}

// snapshot reads Resync, items and SnapshotComplete.
func (w *watcher) snapshot() (names []string, rev uint64) {
	w.t.Helper()
	if ev := w.next(); ev.GetResync() == nil {
		w.t.Fatalf("want resync first, got %v", ev)
	}
	for {
		ev := w.next()
		if c := ev.GetSnapshotComplete(); c != nil {
			sort.Strings(names)
			return names, c.GetRevision()
		}
		item := ev.GetSnapshotItem()
		if item == nil {
			w.t.Fatalf("want snapshot item, got %v", ev)
		}
		names = append(names, item.GetCertificate().GetName())
	}
}

func (w *watcher) change() *certmgrv1.CertificateChange {
	w.t.Helper()
	ev := w.next()
	if ev.GetChange() == nil {
		w.t.Fatalf("want change, got %v", ev)
	}
	return ev.GetChange()
}

func create(t *testing.T, s *server, name string, types ...string) *certmgrv1.Certificate {
	t.Helper()
	req, _ := clientUpload(t, name)
	if len(types) > 0 {
		req.EnvironmentTypes = types
	}
	c, err := s.certs().CreateCertificate(as(adminKey), req)
	if err != nil {
		t.Fatal(err)
	}
	return c.GetCertificate()
}

func TestWatchSnapshotThenLive(t *testing.T) {
	s := startServer(t)
	create(t, s, "first")
	req, leaf := clientUpload(t, "withKey")
	if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	names, rev := w.snapshot()
	if fmt.Sprint(names) != "[first withKey]" || rev != s.revision() {
		t.Fatalf("snapshot %v at %d, want at the head %d", names, rev, s.revision())
	}
	c := create(t, s, "third")
	ch := w.change()
	if ch.GetRevision() != c.GetRevision() || ch.GetRevision() <= rev || ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_CREATED || ch.GetCertificateId() != c.GetId() {
		t.Fatalf("change %v", ch)
	}
	// The material is the uploaded key, usable as is.
	key, err := x509.ParsePKCS8PrivateKey(ch.GetMaterial().GetPrivateKeyPkcs8())
	if err != nil || key == nil {
		t.Fatalf("material key: %v", err)
	}
	_ = leaf
	if _, err := s.certs().DisableCertificate(as(adminKey), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}); err != nil {
		t.Fatal(err)
	}
	disabled := w.change()
	if disabled.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DISABLED || disabled.GetMaterial().GetCertificate().GetState() != "disabled" || disabled.GetRevision() <= ch.GetRevision() {
		t.Fatalf("disable change %v", disabled)
	}
	if _, err := s.certs().DeleteCertificate(as(adminKey), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}); err != nil {
		t.Fatal(err)
	}
	// A delete is two changes: the mark that blocks new deploys while
	// references are checked, then the delete.
	marked := w.change()
	if marked.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_UPDATED || marked.GetMaterial().GetCertificate().GetState() != "deleting" || marked.GetRevision() <= disabled.GetRevision() {
		t.Fatalf("delete-started change %v", marked)
	}
	deleted := w.change()
	if deleted.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DELETED || deleted.GetMaterial() != nil || deleted.GetRevision() <= marked.GetRevision() || deleted.GetRevision() != s.revision() {
		t.Fatalf("delete change %v, want the head %d", deleted, s.revision())
	}
	// Idle: heartbeats carry the current revision.
	for {
		ev, err := w.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if hb := ev.GetHeartbeat(); hb != nil {
			if hb.GetRevision() != deleted.GetRevision() {
				t.Fatalf("heartbeat at %d, want the last change's %d", hb.GetRevision(), deleted.GetRevision())
			}
			break
		}
	}
}

func TestWatchResumeAcrossRestart(t *testing.T) {
	s := startServer(t)
	create(t, s, "a1")
	create(t, s, "a2")
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	_, rev := w.snapshot()
	w.cancel()
	// Changes made while the subscriber is away, then a restart.
	a3 := create(t, s, "a3")
	s.restart()
	a4 := create(t, s, "a4")
	w = watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: rev, Epoch: epoch(t, s)})
	for _, want := range []*certmgrv1.Certificate{a3, a4} {
		if ch := w.change(); ch.GetRevision() != want.GetRevision() || ch.GetCertificateId() != want.GetId() || ch.GetRevision() <= rev {
			t.Fatalf("resumed change %s at %d, want %s at %d (after %d)", ch.GetCertificateId(), ch.GetRevision(), want.GetId(), want.GetRevision(), rev)
		}
	}
}

func TestWatchTooOldGetsResync(t *testing.T) {
	s := startServer(t, func(c *certmgr.Config) { c.Retention = 3 })
	for i := range 6 {
		create(t, s, fmt.Sprintf("c%d", i))
	}
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: 1, Epoch: epoch(t, s)})
	ev := w.next()
	if r := ev.GetResync(); r == nil || r.GetRequestedRevision() != 1 || r.GetOldestRetainedRevision() != 4 {
		t.Fatalf("want resync naming 1 and 4, got %v", ev)
	}
	var n int
	for {
		ev := w.next()
		if c := ev.GetSnapshotComplete(); c != nil {
			if c.GetRevision() != 6 || n != 6 {
				t.Fatalf("snapshot of %d at %d, want 6 at 6", n, c.GetRevision())
			}
			break
		}
		n++
	}
	// A revision from the future (a replaced store) resyncs as well.
	w = watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: 99, Epoch: epoch(t, s)})
	if ev := w.next(); ev.GetResync() == nil {
		t.Fatalf("want resync, got %v", ev)
	}
}

func TestWatchScope(t *testing.T) {
	s := startServer(t)
	edge, err := createKey(s, "acme", "edge")
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, s, edge, &certmgrv1.WatchCertificatesRequest{EnvironmentType: "production"})
	if names, _ := w.snapshot(); len(names) != 0 {
		t.Fatalf("snapshot %v", names)
	}
	// Another account's certificate never reaches acme's edge.
	other, _ := clientUpload(t, "globexCert")
	other.Account = "globex"
	if _, err := s.certs().CreateCertificate(as(adminKey), other); err != nil {
		t.Fatal(err)
	}
	create(t, s, "devOnly", "development")
	prod := create(t, s, "prodCert", "production")
	if ch := w.change(); ch.GetCertificateId() != prod.GetId() || ch.GetRevision() != prod.GetRevision() {
		t.Fatalf("first change in scope %v, want prodCert at %d", ch, prod.GetRevision())
	}
	// Leaving the scope is a removal, without material.
	if _, err := s.certs().UpdateCertificate(as(adminKey), &certmgrv1.UpdateCertificateRequest{Account: "acme", Project: "shop", Id: prod.GetId(), EnvironmentTypes: []string{"preview"}}); err != nil {
		t.Fatal(err)
	}
	if ch := w.change(); ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_REMOVED_FROM_SCOPE || ch.GetMaterial() != nil {
		t.Fatalf("want removal, got %v", ch)
	}
	if _, err := s.certs().UpdateCertificate(as(adminKey), &certmgrv1.UpdateCertificateRequest{Account: "acme", Project: "shop", Id: prod.GetId(), EnvironmentTypes: []string{"production"}}); err != nil {
		t.Fatal(err)
	}
	if ch := w.change(); ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_CREATED || ch.GetMaterial() == nil {
		t.Fatalf("want re-entry as created, got %v", ch)
	}
}

// TestStalledSubscriberDoesNotDelayWrites keeps a subscriber that never
// reads attached while writes go on. Writers must not wait for it, and a
// healthy subscriber must still get every change in order.
func TestStalledSubscriberDoesNotDelayWrites(t *testing.T) {
	s := startServer(t)
	stalled := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	_ = stalled // never read: its gRPC window and buffer fill up
	healthy := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	healthy.snapshot()

	const writes = 400
	var revs []uint64 // the writes' revisions, read once done has answered
	done := make(chan []time.Duration)
	go func() {
		var lat []time.Duration
		ca := clientCA(t)
		for i := range writes {
			r := ca(fmt.Sprintf("w%d", i))
			start := time.Now()
			c, err := s.certs().CreateCertificate(as(adminKey), r)
			if err != nil {
				t.Error(err)
				break
			}
			lat = append(lat, time.Since(start))
			revs = append(revs, c.GetCertificate().GetRevision())
		}
		done <- lat
	}()
	var lat []time.Duration
	select {
	case lat = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("writes did not finish: a stalled subscriber is blocking writers")
	}
	if len(revs) != writes {
		t.Fatalf("%d of %d writes succeeded", len(revs), writes)
	}
	for _, rev := range revs {
		if ch := healthy.change(); ch.GetRevision() != rev {
			t.Fatalf("healthy subscriber got revision %d, want the next write's %d", ch.GetRevision(), rev)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("write latency with a stalled subscriber: p50 %v p99 %v max %v", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// clientCA returns a maker of valid uploads that share one CA, so that the
// loop above measures writes, not key generation.
func clientCA(t *testing.T) func(name string) *certmgrv1.CreateCertificateRequest {
	req, _ := clientUpload(t, "template")
	return func(name string) *certmgrv1.CreateCertificateRequest {
		r := proto.Clone(req).(*certmgrv1.CreateCertificateRequest)
		r.Name = name
		return r
	}
}

// TestWatchLimitedEdgeKey: an edge key limited to a project and environment
// types receives nothing else, whatever it asks for.
func TestWatchLimitedEdgeKey(t *testing.T) {
	s := startServer(t)
	keys := certmgrv1.NewApiKeyServiceClient(s.conn)
	_, err := keys.CreateApiKey(as(adminKey), &certmgrv1.CreateApiKeyRequest{Account: "acme", Project: "shop"})
	wantCode(t, err, codes.InvalidArgument, "edge keys only")
	_, err = keys.CreateApiKey(as(adminKey), &certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge", EnvironmentTypes: []string{"staging"}})
	wantCode(t, err, codes.InvalidArgument, "staging")
	resp, err := keys.CreateApiKey(as(adminKey), &certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge", Project: "shop", EnvironmentTypes: []string{"production"}})
	if err != nil || resp.GetProject() != "shop" {
		t.Fatalf("limited edge key: %v %v", resp, err)
	}
	key := resp.GetKey()

	create(t, s, "devCert", "development")
	other, _ := clientUpload(t, "webCert")
	other.Project = "web"
	if _, err := s.certs().CreateCertificate(as(adminKey), other); err != nil {
		t.Fatal(err)
	}
	create(t, s, "prodCert", "production")
	w := watch(t, s, key, &certmgrv1.WatchCertificatesRequest{})
	if names, _ := w.snapshot(); fmt.Sprint(names) != "[prodCert]" {
		t.Fatalf("limited key's snapshot: %v", names)
	}
	create(t, s, "devCert2", "development")
	both := create(t, s, "bothCert", "development", "production")
	if ch := w.change(); ch.GetCertificateId() != both.GetId() {
		t.Fatalf("limited key got %v, want bothCert", ch)
	}
	for _, req := range []*certmgrv1.WatchCertificatesRequest{{Project: "web", Account: "acme"}, {EnvironmentType: "development"}} {
		stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(key), req)
		if err == nil {
			_, err = stream.Recv()
		}
		wantCode(t, err, codes.PermissionDenied, "limited")
	}
}
