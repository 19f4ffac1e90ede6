package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// counter counts the requests an edge answered, and those of them a
// safety rule refused.
type counter struct{ n, refused atomic.Int64 }

func (c *counter) Request(string, int, time.Duration) { c.n.Add(1) }
func (c *counter) Handshake(string, bool)             {}
func (c *counter) Refused(string)                     { c.refused.Add(1) }

// TestLoop points routes back at the edge, directly and through a second
// edge: the request is answered 508 once it comes back, instead of going
// round until something gives out.
func TestLoop(t *testing.T) {
	client := &http.Client{Timeout: 5 * time.Second}
	self := func(e *edge) string {
		return e.baseURL + "/" + deployment.Account + "/" + deployment.Project + "/" + deployment.Environment
	}
	observed := func(c *counter) edgeOption {
		return func(cfg *proxy.Config) { cfg.Observer, cfg.BackendTimeout = c, 2*time.Second }
	}
	get := func(t *testing.T, url string) response {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return response{status: resp.StatusCode, header: resp.Header, body: body}
	}

	t.Run("to itself", func(t *testing.T) {
		var c counter
		e := newEdge(t, nil, observed(&c))
		e.deploy([]state.Route{forward("/*", self(e), nil)})
		got := get(t, e.url("/x")).apiError(t, http.StatusLoopDetected, "loop_detected")
		contains(t, "message", got.Message, "baseUrl")
		if n := c.n.Load(); n != 2 {
			t.Errorf("the edge answered %d requests, want 2 (the first, and the same one back once)", n)
		}
		if n := c.refused.Load(); n != 1 {
			t.Errorf("the edge counted %d refusals, want 1 (the request that came back)", n)
		}
	})

	t.Run("through another edge", func(t *testing.T) {
		var ca, cb counter
		a := newEdge(t, nil, observed(&ca))
		b := newEdge(t, nil, observed(&cb))
		a.deploy([]state.Route{forward("/*", self(b), nil)})
		b.deploy([]state.Route{forward("/*", self(a), nil)})
		get(t, a.url("/x")).apiError(t, http.StatusLoopDetected, "loop_detected")
		if na, nb := ca.n.Load(), cb.n.Load(); na != 2 || nb != 1 {
			t.Errorf("edge A answered %d requests and B %d, want 2 and 1", na, nb)
		}
	})
}

// TestVia checks the Via field a backend sees: the client's, then the
// edge's own entry, named by Config.HopID.
func TestVia(t *testing.T) {
	be := newBackend(t, nil, nil, nil)
	e := newEdge(t, nil, func(c *proxy.Config) { c.HopID = "edge-7" })
	e.deploy([]state.Route{forward("/*", be.URL, nil)})

	got := e.do(t, "GET", e.url("/x"), nil).echo(t)
	if v := strings.Join(got.Header.Values("Via"), ", "); v != "1.1 certbind-edge-7" {
		t.Errorf("backend saw Via %q", v)
	}
	got = e.do(t, "GET", e.url("/x"), http.Header{"Via": {"1.0 corp-proxy (Squid)"}}).echo(t)
	if v := strings.Join(got.Header.Values("Via"), ", "); v != "1.0 corp-proxy (Squid), 1.1 certbind-edge-7" {
		t.Errorf("backend saw Via %q, want the client's and then the edge's", v)
	}
	// A request that says it passed through this edge is a loop, however
	// the entry is spelled among others.
	for _, via := range []string{"1.1 certbind-edge-7", "1.0 a, HTTP/1.1 certbind-edge-7 (x)", "1.1 b,1.1\tcertbind-edge-7"} {
		e.do(t, "GET", e.url("/x"), http.Header{"Via": {via}}).apiError(t, http.StatusLoopDetected, "loop_detected")
	}
	// Names that only contain the edge's are not it.
	for _, via := range []string{"1.1 certbind-edge-77", "1.1 xcertbind-edge-7", "1.1 certbind-edge-"} {
		e.do(t, "GET", e.url("/x"), http.Header{"Via": {via}}).echo(t)
	}
	if n := be.requests.Load(); n != 5 {
		t.Errorf("backend saw %d requests, want 5", n)
	}
}
