package certmgr_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// clock is the service's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTPS endpoint on loopback that records what it is
// sent and answers 500 to its first failFirst requests.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	got       []received
	failFirst int
	// delay holds each answer back, so that a test can stop a sender
	// while deliveries are in flight.
	delay time.Duration
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body})
		n, delay := len(r.got), r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		if n <= r.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<b>busy</b>\x00\n"+strings.Repeat("x", 10000))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(r.srv.Certificate())
	return p
}

// withWebhooks gives the server a movable clock, receivers' roots and an
// egress policy that allows loopback, as certbind dev's does.
func withWebhooks(t *testing.T, clk *clock, roots *x509.CertPool) func(*certmgr.Config) {
	return func(cfg *certmgr.Config) {
		pol, err := egress.NewPolicy(egress.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Now = clk.Now
		cfg.Webhooks.Policy = pol
		cfg.Webhooks.RootCAs = roots
	}
}

// onBackends runs test on certmgr with its bbolt file and on etcd (an
// embedded member, a prefix of the test's own); backend configures the
// store.
func onBackends(t *testing.T, test func(t *testing.T, backend func(*certmgr.Config))) {
	t.Run("bbolt", func(t *testing.T) { test(t, func(*certmgr.Config) {}) })
	t.Run("etcd", func(t *testing.T) { test(t, onEtcd(t)) })
}

// onEtcd keeps a server's store on the embedded etcd member, under a
// prefix of the test's own; every server it configures shares it, as
// replicas do.
func onEtcd(t *testing.T) func(*certmgr.Config) {
	prefix := testetcd.Prefix(t)
	return func(cfg *certmgr.Config) {
		cfg.Etcd, cfg.EtcdPrefix = testetcd.NewClient(t), prefix
	}
}

func (s *server) hooks() certmgrv1.WebhookServiceClient {
	return certmgrv1.NewWebhookServiceClient(s.conn)
}

// pass runs one pass of the service's webhook scheduler.
func (s *server) pass() {
	s.t.Helper()
	if err := s.svc.Webhooks().RunOnce(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) deliveries(key, account, hook string) []*certmgrv1.WebhookDelivery {
	s.t.Helper()
	resp, err := s.hooks().ListWebhookDeliveries(as(key), &certmgrv1.ListWebhookDeliveriesRequest{Account: account, Webhook: hook})
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.GetDeliveries()
}

// expiringIn uploads a certificate of acme/shop that expires d from the
// clock's now.
func expiringIn(t *testing.T, s *server, clk *clock, name string, d time.Duration) *certmgrv1.Certificate {
	t.Helper()
	ca := testpki.NewCA(t, "Test Root")
	leaf := ca.Issue(t, testpki.Options{CommonName: name + ".client", NotBefore: clk.Now().Add(-time.Hour), NotAfter: clk.Now().Add(d)})
	c, err := s.certs().CreateCertificate(as(adminKey), &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: name,
		EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	return c.GetCertificate()
}

func checkSigned(t *testing.T, secret string, r received) webhook.Payload {
	t.Helper()
	if !webhook.Verify([]byte(secret), r.header.Get(webhook.HeaderTimestamp), r.header.Get(webhook.HeaderSignature), r.body) {
		t.Fatalf("signature %q does not verify for body %s", r.header.Get(webhook.HeaderSignature), r.body)
	}
	if webhook.Verify([]byte(secret+"x"), r.header.Get(webhook.HeaderTimestamp), r.header.Get(webhook.HeaderSignature), r.body) {
		t.Fatal("signature verifies with another secret")
	}
	var p webhook.Payload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"BEGIN", "PRIVATE", "chainPem", "sealedKey"} {
		if strings.Contains(string(r.body), bad) {
			t.Fatalf("delivery body carries %q: %s", bad, r.body)
		}
	}
	return p
}

// A certificate that expires in 6 days is announced once, as 7 days before,
// with a valid signature; a receiver that fails three times gets it on the
// fourth attempt, the same delivery each time; a restart sends nothing
// again; the 1-day mark and expiry are announced once each later.
func TestWebhookExpiryRetriedAndNotResent(t *testing.T) {
	onBackends(t, testWebhookExpiryRetriedAndNotResent)
}

func testWebhookExpiryRetriedAndNotResent(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 3)
	s := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	created, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "expiry",
		Url: rcv.srv.URL + "/hook", Events: []string{webhook.EventExpiring, webhook.EventExpired}})
	if err != nil {
		t.Fatal(err)
	}
	secret := created.GetSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	cert := expiringIn(t, s, clk, "soonGone", 6*24*time.Hour)

	for i := 1; i <= 3; i++ {
		s.pass()
		d := s.deliveries(adminKey, "acme", "expiry")
		if len(d) != 1 || d[0].GetState() != "pending" || d[0].GetAttempts() != int32(i) || d[0].GetLastStatusCode() != 500 {
			t.Fatalf("after failure %d: %v", i, d)
		}
		if ex := d[0].GetResponseExcerpt(); len(ex) > 210 || strings.Contains(ex, "<b>") || strings.Contains(ex, "\x00") || !strings.Contains(ex, `busy`) {
			t.Fatalf("excerpt %q is not short and escaped", ex)
		}
		// Not due yet: the backoff has not passed.
		s.pass()
		if n := len(rcv.requests()); n != i {
			t.Fatalf("%d requests before the backoff passed, want %d", n, i)
		}
		clk.advance(2 * time.Hour)
	}
	s.pass()
	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(got))
	}
	for _, r := range got {
		p := checkSigned(t, secret, r)
		if r.header.Get(webhook.HeaderID) != got[0].header.Get(webhook.HeaderID) || string(r.body) != string(got[0].body) {
			t.Fatal("retries are not the same delivery")
		}
		if p.Event != webhook.EventExpiring || p.DaysBefore != 7 || p.Account != "acme" || p.Certificate.ID != cert.GetId() ||
			p.Certificate.Name != "soonGone" || p.Certificate.FingerprintSHA256 != cert.GetFingerprintSha256() || p.Certificate.Project != "shop" {
			t.Fatalf("payload %+v", p)
		}
	}
	d := s.deliveries(adminKey, "acme", "expiry")
	if len(d) != 1 || d[0].GetState() != "delivered" || d[0].GetAttempts() != 4 || d[0].GetDeliveredTime() == nil {
		t.Fatalf("delivery log %v", d)
	}

	s.restart()
	s.pass()
	clk.advance(time.Hour)
	s.pass()
	if n := len(rcv.requests()); n != 4 {
		t.Fatalf("after a restart the receiver got %d requests, want still 4", n)
	}

	// Inside the last day: one "1 day" announcement, then one "expired".
	clk.advance(5 * 24 * time.Hour)
	s.pass()
	s.pass()
	clk.advance(2 * 24 * time.Hour)
	s.pass()
	s.restart()
	s.pass()
	got = rcv.requests()
	if len(got) != 6 {
		t.Fatalf("receiver got %d requests, want 6", len(got))
	}
	if p := checkSigned(t, secret, got[4]); p.Event != webhook.EventExpiring || p.DaysBefore != 1 {
		t.Fatalf("fifth delivery %+v", p)
	}
	if p := checkSigned(t, secret, got[5]); p.Event != webhook.EventExpired {
		t.Fatalf("sixth delivery %+v", p)
	}
}

// A certificate created 20 days before expiry is announced once, at 30
// days; its lifecycle events reach a webhook that wants them.
func TestWebhookLifecycleEvents(t *testing.T) { onBackends(t, testWebhookLifecycleEvents) }

func testWebhookLifecycleEvents(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	s := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	created, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "all", Url: rcv.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := expiringIn(t, s, clk, "twentyDays", 20*24*time.Hour)
	ref := &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}
	if _, err := s.certs().DisableCertificate(as(adminKey), ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.certs().EnableCertificate(as(adminKey), &certmgrv1.EnableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}); err != nil {
		t.Fatal(err)
	}
	s.pass()
	if _, err := s.certs().DeleteCertificate(as(adminKey), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}); err != nil {
		t.Fatal(err)
	}
	s.pass()
	var events []string
	for _, r := range rcv.requests() {
		p := checkSigned(t, created.GetSecret(), r)
		e := p.Event
		if p.DaysBefore != 0 {
			e += "/" + string(rune('0'+p.DaysBefore/10)) + string(rune('0'+p.DaysBefore%10))
		}
		if p.Certificate.Name != "twentyDays" {
			t.Fatalf("payload %+v", p)
		}
		events = append(events, e)
	}
	want := []string{webhook.EventCreated, webhook.EventDisabled, webhook.EventEnabled, webhook.EventExpiring + "/30", webhook.EventDeleted}
	if strings.Join(events, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", events, want)
	}
}

// An account key manages its own account's webhooks only, and an
// account's events never reach another account's webhook.
func TestWebhookAccountsIsolated(t *testing.T) { onBackends(t, testWebhookAccountsIsolated) }

func testWebhookAccountsIsolated(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcvA, rcvB := newReceiver(t, 0), newReceiver(t, 0)
	roots := rcvA.pool()
	roots.AddCert(rcvB.srv.Certificate())
	s := startServer(t, backend, withWebhooks(t, clk, roots))
	keyA, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := createKey(s, "globex")
	if err != nil {
		t.Fatal(err)
	}
	edgeA, err := createKey(s, "acme", "edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.hooks().CreateWebhook(as(keyA), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "a", Url: rcvA.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.hooks().CreateWebhook(as(keyB), &certmgrv1.CreateWebhookRequest{Account: "globex", Name: "b", Url: rcvB.srv.URL}); err != nil {
		t.Fatal(err)
	}
	_, err = s.hooks().CreateWebhook(as(keyA), &certmgrv1.CreateWebhookRequest{Account: "globex", Name: "sneaky", Url: rcvA.srv.URL})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = s.hooks().ListWebhooks(as(keyA), &certmgrv1.ListWebhooksRequest{Account: "globex"})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = s.hooks().ListWebhookDeliveries(as(keyA), &certmgrv1.ListWebhookDeliveriesRequest{Account: "globex", Webhook: "b"})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = s.hooks().DeleteWebhook(as(keyA), &certmgrv1.DeleteWebhookRequest{Account: "globex", Webhook: "b"})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = s.hooks().ListWebhooks(as(edgeA), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	wantCode(t, err, codes.PermissionDenied, "")
	// An account's own webhook is not found under another name space.
	_, err = s.hooks().DeleteWebhook(as(keyA), &certmgrv1.DeleteWebhookRequest{Account: "acme", Webhook: "b"})
	wantCode(t, err, codes.NotFound, "")
	list, err := s.hooks().ListWebhooks(as(keyA), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 1 || list.GetWebhooks()[0].GetName() != "a" {
		t.Fatalf("acme's list %v %v", list, err)
	}

	expiringIn(t, s, clk, "acmeCert", 90*24*time.Hour)
	s.pass()
	if len(rcvB.requests()) != 0 {
		t.Fatal("globex's receiver was told of acme's certificate")
	}
	if got := rcvA.requests(); len(got) != 1 {
		t.Fatalf("acme's receiver got %d requests, want 1", len(got))
	}
	if d := s.deliveries(keyB, "globex", "b"); len(d) != 0 {
		t.Fatalf("globex's delivery log %v", d)
	}
}

// Receivers the egress policy refuses are refused at create when the URL
// names an address, and at the attempt, before any request, when a name
// resolves to one; nothing but https is accepted.
func TestWebhookEgressRefused(t *testing.T) { onBackends(t, testWebhookEgressRefused) }

func testWebhookEgressRefused(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	s := startServer(t, backend, func(cfg *certmgr.Config) {
		// No loopback allowed; the receiver's port stands for the control
		// plane's listener.
		pol, err := egress.NewPolicy(egress.Config{ControlPlane: []egress.Endpoint{{Flag: "--grpc-addr", Addr: "127.0.0.1:9"}}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Now = clk.Now
		cfg.Webhooks.Policy = pol
		cfg.Webhooks.RootCAs = rcv.pool()
	})
	for _, tc := range []struct{ url, want string }{
		{"https://169.254.169.254/latest/meta-data", "egress policy"},
		{"https://[fe80::1]/x", "egress policy"},
		{"https://127.0.0.1:9/x", "certbind itself"},
		{rcv.srv.URL, "loopback is not allowed"},
		{"http://example.com/x", "https"},
		{"https://user:pw@example.com/x", "user information"},
		{"ftp://example.com/x", "https"},
		{"https://2130706433/x", "number"},
	} {
		_, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "bad", Url: tc.url})
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
	// A name is checked on the address dialled.
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	if _, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "byName", Url: "https://localhost:" + port + "/x"}); err != nil {
		t.Fatal(err)
	}
	expiringIn(t, s, clk, "someCert", 90*24*time.Hour)
	s.pass()
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("a refused receiver got %d requests", n)
	}
	d := s.deliveries(adminKey, "acme", "byName")
	if len(d) != 1 || d[0].GetLastStatusCode() != 0 || !strings.Contains(d[0].GetLastError(), "egress policy") {
		t.Fatalf("delivery log %v", d)
	}
	list, err := s.hooks().ListWebhooks(as(adminKey), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 1 {
		t.Fatalf("a refused create was kept: %v %v", list, err)
	}
}

// The secret is shown once: no later answer, log line or byte of the
// webhook file holds it.
func TestWebhookSecretShownOnce(t *testing.T) { onBackends(t, testWebhookSecretShownOnce) }

func testWebhookSecretShownOnce(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 1)
	s := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	created, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "once", Url: rcv.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	secret := created.GetSecret()
	expiringIn(t, s, clk, "someCert", 90*24*time.Hour)
	s.pass()
	clk.advance(2 * time.Hour)
	s.pass()
	list, err := s.hooks().ListWebhooks(as(adminKey), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	dels := s.deliveries(adminKey, "acme", "once")
	for what, text := range map[string]string{"list": list.String(), "deliveries": fmtAll(dels), "log": s.logs.String()} {
		if strings.Contains(text, secret) || strings.Contains(text, secret[len("whsec_"):]) {
			t.Fatalf("the secret appears in the %s", what)
		}
	}
	s.stop()
	if strings.Contains(string(storedBytes(t, s)), secret[len("whsec_"):]) {
		t.Fatal("the secret is stored in the clear")
	}
	if len(rcv.requests()) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(rcv.requests()))
	}
}

// storedBytes returns every byte the webhook records of s are stored in:
// the webhook file, or every value under the etcd prefix.
func storedBytes(t *testing.T, s *server) []byte {
	t.Helper()
	if s.cfg.Etcd == nil {
		data, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "webhooks.db"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	resp, err := s.cfg.Etcd.Get(context.Background(), s.cfg.EtcdPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, kv := range resp.Kvs {
		out = append(append(out, kv.Key...), kv.Value...)
	}
	if !strings.Contains(string(out), "sealedSecret") {
		t.Fatal("no webhook record found under the etcd prefix")
	}
	return out
}

func fmtAll(dels []*certmgrv1.WebhookDelivery) string {
	var b strings.Builder
	for _, d := range dels {
		b.WriteString(d.String())
	}
	return b.String()
}

// A webhook's secret is sealed again under the new master key by a
// rotation, so deliveries are still signed with it after a restart that
// no longer has the retired key.
func TestWebhookSecretSurvivesMasterKeyRotation(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	s := startServer(t, withWebhooks(t, clk, rcv.pool()))
	created, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "rotated", Url: rcv.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	expiringIn(t, s, clk, "beforeRotation", 90*24*time.Hour)
	old := keyFileID(t, s.cfg.MasterKeyFile)
	stopRun := s.run()
	if _, started, err := s.svc.MasterKey().Start(); err != nil || !started {
		t.Fatalf("rotation did not start: %v", err)
	}
	waitIdle(t, s)
	stopRun()
	s.stop()
	wantRotated(t, s, old)
	if err := os.Remove(masterkey.Files{Path: s.cfg.MasterKeyFile}.Retired(old)); err != nil {
		t.Fatal(err)
	}
	s.start()
	expiringIn(t, s, clk, "afterRotation", 90*24*time.Hour)
	s.pass()
	after := 0
	for _, r := range rcv.requests() {
		if checkSigned(t, created.GetSecret(), r).Certificate.Name == "afterRotation" {
			after++
		}
	}
	if after != 1 {
		t.Fatalf("receiver got %d deliveries of the certificate created after the rotation, want 1 (log: %v)", after, s.deliveries(adminKey, "acme", "rotated"))
	}
}

// A receiver that fails is tried once per pass, however many deliveries
// wait for it; they all go, in order, once it answers.
func TestWebhookFailingReceiverTriedOncePerPass(t *testing.T) {
	onBackends(t, testWebhookFailingReceiverTriedOncePerPass)
}

func testWebhookFailingReceiverTriedOncePerPass(t *testing.T, backend func(*certmgr.Config)) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 1)
	s := startServer(t, backend, withWebhooks(t, clk, rcv.pool()))
	if _, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "backlog", Url: rcv.srv.URL,
		Events: []string{webhook.EventCreated}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "second", "third"} {
		expiringIn(t, s, clk, name, 90*24*time.Hour)
	}
	s.pass()
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("a failing receiver got %d requests in one pass, want 1", n)
	}
	for _, d := range s.deliveries(adminKey, "acme", "backlog") {
		want := int32(0)
		if d.GetCertificateName() == "first" {
			want = 1
		}
		if d.GetState() != "pending" || d.GetAttempts() != want {
			t.Fatalf("after one failed pass: %v", d)
		}
	}
	clk.advance(2 * time.Hour)
	s.pass()
	var names []string
	for _, r := range rcv.requests() {
		var p webhook.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Certificate.Name)
	}
	if strings.Join(names, " ") != "first first second third" {
		t.Fatalf("receiver got %v", names)
	}
}

// A master-key rotation seals the webhook secrets again before it retires
// the previous key: the retired key is not in the ring at the next start,
// so a certmgr killed just after the key files were swapped, before the
// dispatcher's next pass or its Close, would otherwise leave secrets no key
// opens. The webhook file is copied at that very step and read as a kill
// there would leave it.
func TestWebhookSecretsSealedAgainBeforeTheKeyRetires(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	atSwap := filepath.Join(t.TempDir(), "webhooks-at-swap.db")
	var dataDir string
	s := startServer(t, withWebhooks(t, clk, rcv.pool()), func(cfg *certmgr.Config) {
		dataDir = cfg.DataDir
		certmgr.SetRotationHooks(cfg, func(step string) error {
			if step == "files-swapped" {
				b, err := os.ReadFile(filepath.Join(dataDir, "webhooks.db"))
				if err != nil {
					return err
				}
				return os.WriteFile(atSwap, b, 0o600)
			}
			return nil
		}, 0)
	})
	for _, name := range []string{"first", "second"} {
		if _, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: name, Url: rcv.srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	old := keyFileID(t, s.cfg.MasterKeyFile)
	stopRun := s.run()
	if _, started, err := s.svc.MasterKey().Start(); err != nil || !started {
		t.Fatalf("rotation did not start: %v", err)
	}
	waitIdle(t, s)
	stopRun()
	s.stop()
	current := keyFileID(t, s.cfg.MasterKeyFile)
	if current == old {
		t.Fatalf("the master key file still holds key %s", old)
	}

	db, err := bolt.Open(atSwap, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the webhook file copied when the key files were swapped: %v", err)
	}
	defer db.Close()
	secrets := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return walkValues(b, func(v []byte) {
				var h struct {
					Name         string `json:"name"`
					SealedSecret []byte `json:"sealedSecret"`
				}
				if json.Unmarshal(v, &h) != nil || len(h.SealedSecret) == 0 {
					return
				}
				secrets++
				if id := seal.KeyID(h.SealedSecret); id != current {
					t.Errorf("webhook %q: its secret was sealed under key %s when the key files were swapped, want the new key %s", h.Name, id, current)
				}
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if secrets != 2 {
		t.Fatalf("found %d sealed secrets in the copy, want 2", secrets)
	}
}

// walkValues calls f with every value of b and of the buckets in it.
func walkValues(b *bolt.Bucket, f func([]byte)) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return walkValues(b.Bucket(k), f)
		}
		f(v)
		return nil
	})
}
