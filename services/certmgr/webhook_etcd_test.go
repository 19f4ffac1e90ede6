package certmgr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/internal/testetcd"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// sameMasterKey makes a replica use s's master key file, as every replica
// of a certmgr on etcd must.
func sameMasterKey(s *server) func(*certmgr.Config) {
	return func(cfg *certmgr.Config) { cfg.MasterKeyFile = s.cfg.MasterKeyFile }
}

// ids counts the requests a receiver got by their Certbind-Webhook-Id.
func ids(r *receiver) map[string]int {
	out := map[string]int{}
	for _, req := range r.requests() {
		out[req.header.Get(webhook.HeaderID)]++
	}
	return out
}

// waitFor polls cond until it holds, failing the test with what() after
// a minute: a bound for a stuck test, not a measure of speed.
func waitFor(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On etcd one transaction holds at most 128 operations: 300 certificates
// created at once, with three webhooks, make more deliveries, expiry
// marks and claims than that, and deleting a webhook with hundreds of
// deliveries pending, or starting the records again from 300
// certificates, too. Each is split over several transactions, and
// nothing is lost or sent twice. On both backends, a receiver that fails
// is tried once in a pass however many deliveries wait for it, more than
// one batch of claims included.
func TestWebhookMoreThanOneTransactionHolds(t *testing.T) {
	onBackends(t, testWebhookMoreThanOneTransactionHolds)
}

func testWebhookMoreThanOneTransactionHolds(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	good, failing := newReceiver(t, 0), newReceiver(t, 1<<30)
	roots := good.pool()
	roots.AddCert(failing.srv.Certificate())
	s := startServer(t, backend, withWebhooks(t, clk, roots))
	for _, h := range []*certmgrv1.CreateWebhookRequest{
		{Account: "acme", Name: "created", Url: good.srv.URL, Events: []string{webhook.EventCreated}},
		{Account: "acme", Name: "expiry", Url: good.srv.URL, Events: []string{webhook.EventExpiring}},
		{Account: "acme", Name: "doomed", Url: failing.srv.URL},
	} {
		if _, err := s.hooks().CreateWebhook(as(adminKey), h); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	for i := range n {
		expiringIn(t, s, clk, fmt.Sprintf("cert%03d", i), 20*24*time.Hour)
	}
	began := time.Now()
	s.pass()
	// A figure for the report, not a check.
	t.Logf("one pass recorded %d changes and %d expiry marks and sent %d deliveries in %v", n, n, 2*n+1, time.Since(began).Round(time.Millisecond))
	got := ids(good)
	if len(got) != 2*n {
		t.Fatalf("the receiver got %d distinct deliveries, want %d (created and expiring for each certificate)", len(got), 2*n)
	}
	for id, c := range got {
		if c != 1 {
			t.Fatalf("delivery %s was sent %d times", id, c)
		}
	}
	if c := len(failing.requests()); c != 1 {
		t.Fatalf("the failing receiver got %d requests in one pass, want 1", c)
	}
	if d := s.deliveries(adminKey, "acme", "doomed"); len(d) != 100 || d[0].GetState() != "pending" {
		t.Fatalf("doomed's delivery log holds %d (want a page of 100 pending)", len(d))
	}

	// Its 2n deliveries pending go with it, over several transactions.
	if _, err := s.hooks().DeleteWebhook(as(adminKey), &certmgrv1.DeleteWebhookRequest{Account: "acme", Webhook: "doomed"}); err != nil {
		t.Fatal(err)
	}
	if s.cfg.Etcd != nil {
		resp, err := s.cfg.Etcd.Get(context.Background(), s.cfg.EtcdPrefix+"webhooks/due/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("%d deliveries still due after the delete (%v)", resp.Count, err)
		}
	}
	list, err := s.hooks().ListWebhooks(as(adminKey), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 2 {
		t.Fatalf("webhooks after the delete: %v %v", list, err)
	}

	// On etcd the records start again from the 300 certificates (as
	// they do when they follow no epoch yet), keeping what was announced
	// of each.
	s.stop()
	if s.cfg.Etcd != nil {
		if _, err := s.cfg.Etcd.Delete(context.Background(), s.cfg.EtcdPrefix+"webhooks/meta/epoch"); err != nil {
			t.Fatal(err)
		}
	}
	began = time.Now()
	s.start() // on etcd the records start again from the certificates here
	t.Logf("a start (on etcd: starting the records again from %d certificates) took %v", n, time.Since(began).Round(time.Millisecond))
	s.pass()
	clk.advance(2 * time.Hour)
	s.pass()
	if c, f := len(good.requests()), len(failing.requests()); c != 2*n || f != 1 {
		t.Fatalf("after starting again the receivers got %d and %d requests, want still %d and 1", c, f, 2*n)
	}
	// Every certificate is tracked again: each inside the next window is
	// announced once.
	clk.advance(7 * 24 * time.Hour)
	s.pass()
	if c := len(good.requests()); c != 3*n {
		t.Fatalf("after the 14-day mark the receiver got %d requests, want %d", c, 3*n)
	}
}

// Two replicas on one etcd share their webhooks: one created on either is
// listed and deleted on the other.
func TestWebhookReplicasShareWebhooks(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	backend := onEtcd(t)
	a := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	b := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), sameMasterKey(a))
	if _, err := a.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "shared", Url: rcv.srv.URL}); err != nil {
		t.Fatal(err)
	}
	_, err := b.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "SHARED", Url: rcv.srv.URL})
	wantCode(t, err, codes.AlreadyExists, "")
	list, err := b.hooks().ListWebhooks(as(adminKey), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 1 || list.GetWebhooks()[0].GetName() != "shared" {
		t.Fatalf("replica 2 lists %v %v", list, err)
	}
	expiringIn(t, b, clk, "fromB", 90*24*time.Hour)
	a.pass()
	if d := b.deliveries(adminKey, "acme", "shared"); len(d) != 1 || d[0].GetState() != "delivered" || d[0].GetCertificateName() != "fromB" {
		t.Fatalf("replica 2's delivery log: %v", d)
	}
	if _, err := b.hooks().DeleteWebhook(as(adminKey), &certmgrv1.DeleteWebhookRequest{Account: "acme", Webhook: "shared"}); err != nil {
		t.Fatal(err)
	}
	list, err = a.hooks().ListWebhooks(as(adminKey), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 0 {
		t.Fatalf("replica 1 still lists %v %v", list, err)
	}
}

// Two replicas run side by side on one etcd: N certificate events, made
// on either, give exactly N deliveries at the receiver; the leader is
// stopped while more are being sent, and the other replica delivers the
// rest, nothing lost. A delivery in flight when the leader stops may be
// sent again, with the same id (the documented crash window), so at most
// PerAccount of them.
func TestWebhookReplicasDeliverEachEventOnce(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	backend := onEtcd(t)
	fast := func(cfg *certmgr.Config) {
		cfg.Webhooks.Interval = 50 * time.Millisecond
		cfg.Webhooks.LeaderTTL = time.Second
		cfg.ResumeInterval = time.Hour
	}
	a := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), fast)
	b := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), fast, sameMasterKey(a))
	if _, err := b.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "all", Url: rcv.srv.URL,
		Events: []string{webhook.EventCreated}}); err != nil {
		t.Fatal(err)
	}
	stopA := a.run()
	waitFor(t, func() string { return "replica 1 to lead" }, a.svc.Webhooks().Leads)
	b.run()
	const n = 30
	for i := range n {
		on := a
		if i%2 == 1 {
			on = b
		}
		expiringIn(t, on, clk, fmt.Sprintf("first%02d", i), 90*24*time.Hour)
	}
	waitFor(t, func() string { return fmt.Sprintf("%d distinct deliveries, want %d", len(ids(rcv)), n) },
		func() bool { return len(ids(rcv)) >= n })
	got := ids(rcv)
	if len(got) != n || len(rcv.requests()) != n {
		t.Fatalf("%d requests of %d distinct deliveries, want %d of %d", len(rcv.requests()), len(got), n, n)
	}
	if b.svc.Webhooks().Leads() {
		t.Fatal("both replicas lead")
	}

	// The receiver answers slowly now, so replica 1 is in the middle of
	// sending the second series when it stops.
	rcv.mu.Lock()
	rcv.delay = 50 * time.Millisecond
	rcv.mu.Unlock()
	for i := range n {
		expiringIn(t, b, clk, fmt.Sprintf("second%02d", i), 90*24*time.Hour)
	}
	waitFor(t, func() string { return "replica 1 to send the second series" }, func() bool { return len(rcv.requests()) > n })
	stopA()
	a.stop()
	stoppedAt := len(ids(rcv))
	waitFor(t, func() string { return "replica 2 to lead" }, b.svc.Webhooks().Leads)
	// Deliveries whose attempt the stop cut off wait for their backoff.
	clk.advance(2 * time.Hour)
	waitFor(t, func() string { return fmt.Sprintf("%d distinct deliveries, want %d", len(ids(rcv)), 2*n) },
		func() bool { return len(ids(rcv)) >= 2*n })
	got = ids(rcv)
	again := 0
	for _, c := range got {
		again += c - 1
	}
	// A webhook's deliveries go one at a time: at most one was in flight.
	if len(got) != 2*n || again > 1 || stoppedAt >= 2*n {
		t.Fatalf("%d distinct deliveries, %d sent again, %d sent when replica 1 stopped; want %d, at most 1 again, fewer", len(got), again, stoppedAt, 2*n)
	}
	t.Logf("%d deliveries: %d sent by replica 1 before it stopped, the rest by replica 2; %d sent again across the failover", len(got), stoppedAt, again)
}

// A replica that starts after changes were made while no replica sent
// replays etcd's history into its change feed: once it leads, it sends
// the events of those changes, from the cursor the last leader left.
func TestWebhookNewLeaderSendsWhatCameWhileNoneLed(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	backend := onEtcd(t)
	a := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	if _, err := a.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "created", Url: rcv.srv.URL,
		Events: []string{webhook.EventCreated}}); err != nil {
		t.Fatal(err)
	}
	expiringIn(t, a, clk, "whileLeading", 90*24*time.Hour)
	a.pass()
	// Replica 1 stops leading and sending; it serves the API, and two
	// certificates are created meanwhile.
	if err := a.svc.Webhooks().Close(); err != nil {
		t.Fatal(err)
	}
	expiringIn(t, a, clk, "noLeader1", 90*24*time.Hour)
	expiringIn(t, a, clk, "noLeader2", 90*24*time.Hour)
	// Replica 2 starts after them, and leads.
	b := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), sameMasterKey(a))
	b.pass()
	var names []string
	for _, r := range rcv.requests() {
		var p webhook.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Certificate.Name)
	}
	if fmt.Sprint(names) != "[whileLeading noLeader1 noLeader2]" {
		t.Fatalf("the receiver was told of %v, want [whileLeading noLeader1 noLeader2]", names)
	}
}

// Expiry is announced once across replicas and leader changes: each
// replica in turn leads, and each mark goes out once.
func TestWebhookExpiryOnceAcrossReplicas(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	backend := onEtcd(t)
	a := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	b := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), sameMasterKey(a))
	created, err := a.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "expiry", Url: rcv.srv.URL,
		Events: []string{webhook.EventExpiring, webhook.EventExpired}})
	if err != nil {
		t.Fatal(err)
	}
	expiringIn(t, b, clk, "soonGone", 6*24*time.Hour)
	a.pass()
	a.pass()
	a.stop() // resigns: replica 2 takes over at once
	b.pass()
	clk.advance(time.Hour)
	b.pass()
	if c := len(rcv.requests()); c != 1 {
		t.Fatalf("after a leader change the receiver got %d requests, want 1", c)
	}
	clk.advance(5 * 24 * time.Hour)
	b.pass()
	b.pass()
	a.start()
	b.stop()
	a.pass()
	clk.advance(2 * 24 * time.Hour)
	a.pass()
	a.pass()
	var events []string
	for _, r := range rcv.requests() {
		p := checkSigned(t, created.GetSecret(), r)
		events = append(events, fmt.Sprintf("%s/%d", p.Event, p.DaysBefore))
	}
	want := fmt.Sprintf("%v", []string{webhook.EventExpiring + "/7", webhook.EventExpiring + "/1", webhook.EventExpired + "/0"})
	if fmt.Sprintf("%v", events) != want {
		t.Fatalf("events %v, want %s", events, want)
	}
}

// A failover after certificates stopped changing for longer than etcd
// keeps its history (here: a compaction at the revision of the leader's
// last pass) misses nothing and says nothing was missed: the leader keeps its cursor up
// with etcd's revision while nothing changes, so the replica elected next,
// whose change feed starts at etcd's compaction, goes on from it.
func TestWebhookFailoverAfterCompaction(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	backend := onEtcd(t)
	a := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	if _, err := a.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "created", Url: rcv.srv.URL,
		Events: []string{webhook.EventCreated}}); err != nil {
		t.Fatal(err)
	}
	expiringIn(t, a, clk, "beforeIdle", 90*24*time.Hour)
	a.pass()
	// Other writes of the cluster move etcd's revision; no certificate
	// changes.
	ctx := context.Background()
	for i := range 3 {
		if _, err := a.cfg.Etcd.Put(ctx, testetcd.Prefix(t)+"other", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The replica's feed takes them in (as it does by itself within
	// seconds, asking etcd for its progress).
	a.revision()
	a.pass()
	// etcd compacts its history up to the leader's last pass (the
	// leader's passes run every minute; etcd keeps an hour), and the
	// leader stops.
	resp, err := a.cfg.Etcd.Get(ctx, "compact-point", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.cfg.Etcd.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	a.stop()
	b := startServer(t, backend, withWebhooks(t, clk, rcv.pool()), sameMasterKey(a))
	expiringIn(t, b, clk, "afterFailover", 90*24*time.Hour)
	b.pass()
	if strings.Contains(b.logs.String(), "webhook events were missed") {
		t.Fatalf("the new leader says events were missed:\n%s", b.logs.String())
	}
	var names []string
	for _, r := range rcv.requests() {
		var p webhook.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Certificate.Name)
	}
	if fmt.Sprint(names) != "[beforeIdle afterFailover]" {
		t.Fatalf("the receiver was told of %v, want [beforeIdle afterFailover]", names)
	}
}
