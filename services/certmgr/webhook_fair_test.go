package certmgr_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// fairServer is a server with a webhook "created" in each of accounts, to
// the receiver given for it.
func fairServer(t *testing.T, backend func(*certmgr.Config), urls map[string]*httptest.Server, mutate ...func(*certmgr.Config)) (*server, func(account, name string)) {
	t.Helper()
	clk := &clock{t: time.Now()}
	roots := newReceiver(t, 0).pool()
	for _, srv := range urls {
		roots.AddCert(srv.Certificate())
	}
	s := startServer(t, append([]func(*certmgr.Config){backend, withWebhooks(t, clk, roots)}, mutate...)...)
	for account, srv := range urls {
		if _, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: account, Name: "created",
			Url: srv.URL, Events: []string{webhook.EventCreated}}); err != nil {
			t.Fatal(err)
		}
	}
	ca := testpki.NewCA(t, "Test Root")
	create := func(account, name string) {
		t.Helper()
		leaf := ca.Issue(t, testpki.Options{CommonName: name + ".client"})
		if _, err := s.certs().CreateCertificate(as(adminKey), &certmgrv1.CreateCertificateRequest{Account: account, Project: "shop", Name: name,
			EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}); err != nil {
			t.Fatal(err)
		}
	}
	return s, create
}

// One account's backlog must not hold up another's deliveries: an account
// whose receiver fails, with more deliveries due than one batch of the
// dispatcher holds, has its receiver tried once in a pass, and another
// account's delivery, recorded after the whole backlog, is sent in that
// same pass.
func TestWebhookFailingBacklogDoesNotStarveAnotherAccount(t *testing.T) {
	onBackends(t, func(t *testing.T, backend func(*certmgr.Config)) {
		failing, healthy := newReceiver(t, 1<<30), newReceiver(t, 0)
		s, create := fairServer(t, backend, map[string]*httptest.Server{"noisy": failing.srv, "acme": healthy.srv})
		const backlog = 300 // more than one claim batch
		for i := range backlog {
			create("noisy", fmt.Sprintf("c%03d", i))
		}
		create("acme", "wanted")
		s.pass()
		if n := len(failing.requests()); n != 1 {
			t.Errorf("the failing receiver was tried %d times in one pass, want 1", n)
		}
		if n := len(healthy.requests()); n != 1 {
			t.Fatalf("acme's receiver got %d deliveries in the pass, want 1", n)
		}
	})
}

// A receiver that answers, slowly, must not hold up another account
// either: the deliveries of one webhook go one after the other, so a
// batch of the dispatcher that held only the busy account's deliveries
// would keep the other account's waiting for all of them. Here the busy
// account's receiver holds its first request until acme's delivery has
// arrived (or 10 s have passed): acme's must come while the busy receiver
// has had at most that one request.
func TestWebhookSlowBacklogDoesNotHoldUpAnotherAccount(t *testing.T) {
	onBackends(t, func(t *testing.T, backend func(*certmgr.Config)) {
		var mu sync.Mutex
		busyGot, busyAtAcme := 0, -1
		arrived := make(chan struct{})
		giveUp := time.After(10 * time.Second)
		busy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			busyGot++
			mu.Unlock()
			select {
			case <-arrived:
			case <-giveUp:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(busy.Close)
		acme := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if busyAtAcme < 0 {
				busyAtAcme = busyGot
				close(arrived)
			}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(acme.Close)
		s, create := fairServer(t, backend, map[string]*httptest.Server{"busy": busy, "acme": acme})
		const backlog = 300 // more than one claim batch
		for i := range backlog {
			create("busy", fmt.Sprintf("c%03d", i))
		}
		create("acme", "wanted")
		s.pass()
		mu.Lock()
		defer mu.Unlock()
		if busyAtAcme < 0 || busyAtAcme > 1 {
			t.Fatalf("acme's delivery arrived after the busy receiver had %d requests, want at most 1 (-1: it never arrived)", busyAtAcme)
		}
		if busyGot != backlog {
			t.Fatalf("the busy receiver got %d deliveries in the pass, want %d", busyGot, backlog)
		}
	})
}

// An account's deliveries waiting to be sent are bounded: once it has
// MaxPending, its further events are dropped (and counted) rather than
// recorded, while other accounts' go on; when its backlog drains, its
// events are recorded again.
func TestWebhookPendingBoundedPerAccount(t *testing.T) {
	onBackends(t, func(t *testing.T, backend func(*certmgr.Config)) {
		failing, healthy := newReceiver(t, 1<<30), newReceiver(t, 0)
		s, create := fairServer(t, backend, map[string]*httptest.Server{"noisy": failing.srv, "acme": healthy.srv},
			func(cfg *certmgr.Config) { cfg.Webhooks.MaxPending = 5; cfg.Webhooks.MaxAttempts = 1 })
		for i := range 8 {
			create("noisy", fmt.Sprintf("c%d", i))
		}
		create("acme", "wanted")
		s.pass()
		if got := s.deliveries(adminKey, "noisy", "created"); len(got) != 5 {
			t.Fatalf("noisy has %d deliveries, want 5 (the bound):\n%s", len(got), fmtAll(got))
		}
		if n := len(healthy.requests()); n != 1 {
			t.Fatalf("acme's receiver got %d deliveries, want 1", n)
		}
		// The pass tried the failing receiver once (one attempt each: that
		// delivery failed for good) and left the other four waiting: room
		// for one more event, not two.
		create("noisy", "after1")
		create("noisy", "after2")
		s.pass()
		names := map[string]bool{}
		got := s.deliveries(adminKey, "noisy", "created")
		for _, d := range got {
			names[d.GetCertificateName()] = true
		}
		if len(got) != 6 || !names["after1"] || names["after2"] {
			t.Fatalf("after one delivery failed for good noisy has:\n%s", fmtAll(got))
		}
	})
}
