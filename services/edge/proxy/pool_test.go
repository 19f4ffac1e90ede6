package proxy_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// TestHandshakes checks that steady traffic reuses connections and that new
// connections resume the TLS session instead of a full handshake.
func TestHandshakes(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	var hs handshakes
	e := newEdge(t, certPool(p.root), func(c *proxy.Config) { c.Observer = &hs })
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	for range 200 {
		e.get(t, "/x").echo(t)
	}
	if full, resumed := hs.full.Load(), hs.resumed.Load(); full > 2 || full+resumed > 2 {
		t.Errorf("200 sequential requests did %d full and %d resumed handshakes, want at most 2 in all", full, resumed)
	}
	if n := be.conns.Load(); n > 2 {
		t.Errorf("backend accepted %d connections for 200 sequential requests", n)
	}

	// The backend closes the connection after each of these, so each
	// next request needs a new one.
	full := hs.full.Load()
	for range 10 {
		if got := e.get(t, "/x?close=1").echo(t); got.Subject != "CN=edge client" {
			t.Fatalf("resumed session presented %q", got.Subject)
		}
	}
	if n := hs.full.Load() - full; n > 1 {
		t.Errorf("%d full handshakes for 10 new connections, want them resumed", n)
	}
	if n := hs.resumed.Load(); n < 9 {
		t.Errorf("%d resumed handshakes for 10 new connections, want at least 9", n)
	}
}

// TestRotationUnderLoad swaps the certificate for a new version while
// requests are running: none may fail, the backend must see the new
// certificate afterwards, and the old pool must go once idle.
func TestRotationUnderLoad(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	v1 := p.clientCert(t, "cert-1", "myBackendCert", "client v1", 1)
	v2 := p.clientCert(t, "cert-1", "myBackendCert", "client v2", 2)
	e.deploy([]state.Route{forward("/*", be.URL, v1)}, v1)

	const workers, perWorker = 8, 250
	var (
		wg       sync.WaitGroup
		sent     atomic.Int64
		failures atomic.Int64
		rotated  = make(chan struct{})
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if sent.Add(1) == workers*perWorker/2 {
					e.store.Update(func(next *state.Snapshot) { next.Certificates[v2.ID] = v2 })
					close(rotated)
				}
				resp, err := e.client.Get(e.url("/x"))
				if err != nil {
					failures.Add(1)
					t.Error(err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-rotated
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed across the rotation", n, workers*perWorker)
	}
	if got := e.get(t, "/x").echo(t); got.Subject != "CN=client v2" {
		t.Errorf("after the rotation the backend saw %q, want CN=client v2", got.Subject)
	}
	// A request that loaded the snapshot just before the rotation may
	// have made a v1 pool after the publish retired the old one; the next
	// Retire takes it.
	e.handler.Retire(e.store.Load())
	if !eventually(func() bool { return e.handler.Pools() == 1 }) {
		t.Errorf("%d pools after the rotation, want 1 (the v1 pool retired)", e.handler.Pools())
	}
}

// TestRetireWaitsForInFlight checks that a request keeps the pool it
// started on across a rotation, and that the pool is dropped when it ends.
func TestRetireWaitsForInFlight(t *testing.T) {
	p := newPKI(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		echoHandler(w, r)
	})
	e := newEdge(t, certPool(p.root))
	v1 := p.clientCert(t, "cert-1", "myBackendCert", "client v1", 1)
	v2 := p.clientCert(t, "cert-1", "myBackendCert", "client v2", 2)
	e.deploy([]state.Route{forward("/*", be.URL, v1)}, v1)

	slow := make(chan response, 1)
	go func() { slow <- e.get(t, "/slow") }()
	<-started
	e.store.Update(func(next *state.Snapshot) { next.Certificates[v2.ID] = v2 })
	if got := e.get(t, "/x").echo(t); got.Subject != "CN=client v2" {
		t.Errorf("a new request presented %q, want CN=client v2", got.Subject)
	}
	if n := e.handler.Pools(); n != 2 {
		t.Errorf("%d pools while a v1 request is in flight, want 2", n)
	}
	close(release)
	if got := (<-slow).echo(t); got.Subject != "CN=client v1" {
		t.Errorf("the request in flight presented %q, want CN=client v1 (the certificate it started with)", got.Subject)
	}
	if !eventually(func() bool { return e.handler.Pools() == 1 }) {
		t.Errorf("%d pools once the v1 request ended, want 1", e.handler.Pools())
	}

	// Deleting the certificate leaves no route a pool can serve.
	e.store.Update(func(next *state.Snapshot) { delete(next.Certificates, v2.ID) })
	if n := e.handler.Pools(); n != 0 {
		t.Errorf("%d pools after the certificate was deleted, want 0", n)
	}
	e.get(t, "/x").apiError(t, http.StatusBadGateway, "certificate_unavailable")
}

// eventually polls cond for up to two seconds: a handler releases its pool
// just after the client has the whole answer.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
