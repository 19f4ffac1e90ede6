package proxy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// TestForwardedHeaders checks that the backend sees the X-Forwarded-*
// headers the edge sets and none the client sent, even when the client
// names them in its Connection header to have them dropped.
func TestForwardedHeaders(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)
	edgeHost := strings.TrimPrefix(e.baseURL, "http://")

	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"spoofed", http.Header{
			"X-Forwarded-For":   {"6.6.6.6"},
			"X-Forwarded-Host":  {"evil.example"},
			"X-Forwarded-Proto": {"https"},
			"Forwarded":         {"for=6.6.6.6;proto=https"},
		}},
		{"connection names X-Forwarded-For", http.Header{
			"Connection":      {"X-Forwarded-For, X-Forwarded-Proto"},
			"X-Forwarded-For": {"6.6.6.6"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(t, "GET", e.url("/x"), tc.header).echo(t)
			for k, want := range map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  edgeHost,
				"X-Forwarded-Proto": "http",
				"Forwarded":         "",
			} {
				if v := strings.Join(got.Header.Values(k), ", "); v != want {
					t.Errorf("backend saw %s %q, want %q", k, v, want)
				}
			}
		})
	}

	t.Run("Host", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.url("/x"), nil)
		req.Host = "evil.example"
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := response{status: resp.StatusCode, header: resp.Header, body: body}.echo(t)
		if want := strings.TrimPrefix(be.URL, "https://"); got.Host != want {
			t.Errorf("backend saw Host %q, want its own %q", got.Host, want)
		}
	})
}

// TestHopByHopHeaders checks that headers meant for one connection are not
// passed on, and end-to-end ones are.
func TestHopByHopHeaders(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	got := e.do(t, "GET", e.url("/x"), http.Header{
		"Connection":          {"X-Hop, keep-alive"},
		"X-Hop":               {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic c2VjcmV0"},
		"Proxy-Connection":    {"keep-alive"},
		"Te":                  {"gzip"},
		"Upgrade":             {"h2c"},
		"X-End-To-End":        {"kept"},
	}).echo(t)
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Upgrade"} {
		if v := got.Header.Values(k); len(v) > 0 {
			t.Errorf("backend saw hop-by-hop header %s: %q", k, v)
		}
	}
	if v := got.Header.Get("X-End-To-End"); v != "kept" {
		t.Errorf("backend saw X-End-To-End %q, want %q", v, "kept")
	}
}

// TestStreaming checks that the edge passes on what the backend flushes
// while the backend is still writing.
func TestStreaming(t *testing.T) {
	p := newPKI(t)
	release := make(chan struct{})
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second\n")
	})
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	resp, err := e.client.Get(e.url("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(resp.Body)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	select {
	case l := <-lines:
		if l != "first" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first line did not arrive while the backend was still writing")
	}
	close(release)
	if l := <-lines; l != "second" {
		t.Errorf("second line %q", l)
	}
}

// startServer serves h with NewServer on a loopback port.
func startServer(t *testing.T, h http.Handler, adjust func(*h1.Server)) string {
	t.Helper()
	srv := proxy.NewServer(h)
	if adjust != nil {
		adjust(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestServerLimits(t *testing.T) {
	srv := proxy.NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 5*time.Second || srv.MaxHeaderBytes != 32<<10 || srv.IdleTimeout == 0 {
		t.Errorf("server limits: ReadHeaderTimeout %v MaxHeaderBytes %d IdleTimeout %v",
			srv.ReadHeaderTimeout, srv.MaxHeaderBytes, srv.IdleTimeout)
	}

	t.Run("oversized headers", func(t *testing.T) {
		reached := false
		addr := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }), nil)
		req, _ := http.NewRequest("GET", "http://"+addr+"/acme/shop/prod/x", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || reached {
			t.Errorf("status %d (handler reached: %v), want 431", resp.StatusCode, reached)
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		addr := startServer(t, http.NotFoundHandler(), func(s *h1.Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /acme/shop/prod/x HTTP/1.1\r\nHost: edge\r\n")
		// The request's headers never end; the server must give up.
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = io.ReadAll(conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server kept a connection whose headers did not arrive in time")
		}
	})
}

// TestBodyLimit: a body announced over the limit is refused before the
// backend hears of it; a streamed one is cut off at the limit with 413.
func TestBodyLimit(t *testing.T) {
	p := newPKI(t)
	b := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Write([]byte("read it all"))
	})
	e := newEdge(t, certPool(p.root), func(c *proxy.Config) { c.MaxBodyBytes = 1000 })
	cert := p.clientCert(t, "crt_1", "myBackendCert", "client", 1)
	e.deploy([]state.Route{forward("/api/*", b.URL, cert)}, cert)

	resp, err := e.client.Post(e.url("/api/x"), "text/plain", strings.NewReader(strings.Repeat("x", 1001)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "request_body_too_large") || b.requests.Load() != 0 {
		t.Fatalf("announced oversize body: %d %s, backend saw %d requests", resp.StatusCode, body, b.requests.Load())
	}
	// Without a Content-Length the body streams until the limit.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("y", 2000)))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", e.url("/api/x"), pr)
	resp, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("streamed oversize body: %d %s", resp.StatusCode, body)
	}
	// Under the limit all is well.
	resp, err = e.client.Post(e.url("/api/x"), "text/plain", strings.NewReader(strings.Repeat("z", 999)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "read it all" {
		t.Fatalf("body under the limit: %d %s", resp.StatusCode, body)
	}
}
