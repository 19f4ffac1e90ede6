package proxy_test

// Tests of the edge's own HTTP/1.1 upstream client (upstream.go,
// exchange.go) as the handler (forward.go) and Fetch (fetch.go) use it:
// stale keep-alive connections, request and response bodies, trailers,
// streaming, failures half-way, clients going away, protocol upgrades and
// connection reuse. Every backend is a TLS server on 127.0.0.1 that
// requires the edge's client certificate.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// waitLong bounds every wait for something that should happen at once:
// the machine is shared and slow under the race detector, so it is
// generous, and it is never a measure of speed.
const waitLong = 10 * time.Second

// newBackendWith is startBackend with the tests' PKI.
func newBackendWith(t testing.TB, p *pki, handler http.HandlerFunc, adjust func(*http.Server)) *backend {
	t.Helper()
	return startBackend(t, p.root, p.root, handler, adjust)
}

// rawBackend is a TLS listener whose connections are served by a function
// that reads and writes the bytes itself, for the backends net/http will
// not imitate: one that closes a keep-alive connection without saying so,
// or that sends less body than it announced.
type rawBackend struct {
	URL   string
	conns atomic.Int64

	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

// newRawBackend serves each accepted connection, once its handshake is
// done, with serve; the connection is closed when serve returns (with a
// close_notify alert, as a TLS server closes).
func newRawBackend(t testing.TB, p *pki, serve func(c *tls.Conn, br *bufio.Reader)) *rawBackend {
	t.Helper()
	cfg := backendTLS(t, p.root, p.root)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{URL: "https://" + ln.Addr().String(), ln: ln, open: map[net.Conn]struct{}{}}
	b.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			tc := tls.Server(nc, cfg)
			b.mu.Lock()
			b.open[nc] = struct{}{}
			b.mu.Unlock()
			b.wg.Go(func() {
				defer func() {
					tc.Close()
					b.mu.Lock()
					delete(b.open, nc)
					b.mu.Unlock()
				}()
				tc.SetDeadline(time.Now().Add(waitLong))
				if err := tc.Handshake(); err != nil {
					return
				}
				tc.SetDeadline(time.Time{})
				serve(tc, bufio.NewReader(tc))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.open {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// statusLog is an Observer that records the statuses reported.
type statusLog struct {
	mu       sync.Mutex
	statuses []int
}

func (s *statusLog) Request(_ string, status int, _ time.Duration) {
	s.mu.Lock()
	s.statuses = append(s.statuses, status)
	s.mu.Unlock()
}

func (s *statusLog) Handshake(string, bool) {}
func (s *statusLog) Refused(string)         {}

func (s *statusLog) snapshot() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.statuses...)
}

// count returns how many times status was reported.
func (s *statusLog) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.statuses {
		if st == status {
			n++
		}
	}
	return n
}

// edgeFor starts an edge serving "/*" from backendURL with a client
// certificate the backends accept.
func edgeFor(t *testing.T, p *pki, backendURL string, opts ...edgeOption) *edge {
	t.Helper()
	e := newEdge(t, certPool(p.root), opts...)
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", backendURL, cert)}, cert)
	return e
}

// send does a request with a body through the edge's client.
func (e *edge) send(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// post sends body with a Content-Length.
func (e *edge) post(t testing.TB, path, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return e.send(t, req)
}

// dialEdge opens a raw connection to the edge, for requests the tests
// frame themselves.
func (e *edge) dialEdge(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(e.baseURL, "http://"), waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(3 * waitLong))
	return c
}

// edgePath is the request-target of path below the deployment.
func edgePath(path string) string {
	return "/" + deployment.Account + "/" + deployment.Project + "/" + deployment.Environment + path
}

// bodyReport is what the body backend says about the request body it got.
type bodyReport struct {
	Method           string
	ContentLength    int64
	TransferEncoding []string
	Length           int
	SHA256           string
	Trailer          http.Header
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// bodyHandler reads the whole request body (and so its trailers) and
// answers a bodyReport. With an X-First-Part header of N it reads N bytes
// first and reports them on first before reading on, so that a test can
// tell the body streams.
func bodyHandler(first chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var head []byte
		if n, err := strconv.Atoi(r.Header.Get("X-First-Part")); err == nil {
			head = make([]byte, n)
			if _, err := io.ReadFull(r.Body, head); err != nil {
				http.Error(w, "first part: "+err.Error(), http.StatusBadRequest)
				return
			}
			first <- struct{}{}
		}
		rest, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		body := append(head, rest...)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(bodyReport{
			Method: r.Method, ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
			Length: len(body), SHA256: sum(body), Trailer: r.Trailer,
		})
	}
}

func (r response) bodyReport(t testing.TB) bodyReport {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var rep bodyReport
	r.json(t, &rep)
	return rep
}

// TestStaleKeepAlive checks that a pooled connection the backend closed
// while it sat idle costs no request: the close is seen when the
// connection is taken from the pool, and a request without a body that
// finds it closed after all (the close came as it was sent) is sent again
// on a new connection.
func TestStaleKeepAlive(t *testing.T) {
	p := newPKI(t)

	// closeAfterOne answers one request and closes the connection
	// without a Connection: close, as a backend whose keep-alive timeout
	// just ran out does. With abrupt it closes the TCP connection without
	// a TLS close_notify.
	closeAfterOne := func(served *atomic.Int64, abrupt bool) func(*tls.Conn, *bufio.Reader) {
		return func(c *tls.Conn, br *bufio.Reader) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			served.Add(1)
			msg := req.Method + " " + sum(body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
			if abrupt {
				c.NetConn().Close()
			}
		}
	}
	for _, abrupt := range []bool{false, true} {
		name := "close_notify"
		if abrupt {
			name = "abrupt close"
		}
		t.Run("backend closes after each answer, "+name, func(t *testing.T) {
			var served atomic.Int64
			be := newRawBackend(t, p, closeAfterOne(&served, abrupt))
			e := edgeFor(t, p, be.URL)

			// Each GET after the first finds its pooled connection
			// closed, with nothing of an answer on it: it must be
			// sent again, on a new connection, and succeed.
			const gets = 5
			for i := range gets {
				resp := e.get(t, "/x")
				if want := "GET " + sum(nil); resp.status != http.StatusOK || string(resp.body) != want {
					t.Fatalf("GET %d: %d %q, want 200 %q", i, resp.status, resp.body, want)
				}
			}
			if n := be.conns.Load(); n != gets {
				t.Errorf("backend accepted %d connections for %d GETs, want %d (one each: none can be reused)", n, gets, gets)
			}

			// A request with a body cannot be sent again (the body
			// is gone), so a stale connection must be noticed before
			// it is used: the pool peeks at every connection it
			// hands out. The close has arrived by now.
			time.Sleep(50 * time.Millisecond)
			body := strings.Repeat("payload ", 1000)
			resp := e.post(t, "/x", body)
			if want := "POST " + sum([]byte(body)); resp.status != http.StatusOK || string(resp.body) != want {
				t.Fatalf("POST after the backend closed the connection: %d %q, want 200 %q", resp.status, resp.body, want)
			}
			if n := served.Load(); n != gets+1 {
				t.Errorf("backend served %d requests, want %d", n, gets+1)
			}
		})
	}

	t.Run("backend IdleTimeout 50ms", func(t *testing.T) {
		be := newBackendWith(t, p, bodyHandler(nil), func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
		e := edgeFor(t, p, be.URL)
		failures := 0
		for round := range 3 {
			// Past the backend's idle timeout, each request finds
			// its connection closed (when taken from the pool, or
			// when the GET is sent again) and goes on a new one.
			time.Sleep(150 * time.Millisecond)
			if resp := e.get(t, "/x"); resp.status != http.StatusOK {
				failures++
				t.Errorf("round %d: GET after the backend's idle timeout: %d %s", round, resp.status, resp.body)
			}
			time.Sleep(150 * time.Millisecond)
			body := fmt.Sprintf("round %d %s", round, strings.Repeat("b", 10000))
			resp := e.post(t, "/x", body)
			if resp.status != http.StatusOK {
				failures++
				t.Errorf("round %d: POST after the backend's idle timeout: %d %s", round, resp.status, resp.body)
				continue
			}
			if rep := resp.bodyReport(t); rep.Length != len(body) || rep.SHA256 != sum([]byte(body)) {
				t.Errorf("round %d: backend got %d bytes (sha %s), want %d", round, rep.Length, rep.SHA256, len(body))
			}
		}
		if failures != 0 {
			t.Fatalf("%d of 6 requests failed", failures)
		}
		if n := be.requests.Load(); n != 6 {
			t.Errorf("backend served %d requests, want 6", n)
		}
		// Every request came after the backend had closed the
		// previous connection.
		if n := be.conns.Load(); n != 6 {
			t.Errorf("backend accepted %d connections, want 6", n)
		}
	})

	// A close that has arrived is seen when the connection is taken
	// from the pool, however briefly it was idle: a POST right after it
	// goes on a new connection. (One that arrives after the request was
	// sent cannot be told from a failure of the request, and a POST is
	// not sent again: TestNoRetryOfNonIdempotent.)
	t.Run("POST right after a close", func(t *testing.T) {
		var served atomic.Int64
		be := newRawBackend(t, p, closeAfterOne(&served, false))
		e := edgeFor(t, p, be.URL)
		if resp := e.get(t, "/x"); resp.status != http.StatusOK {
			t.Fatalf("GET: %d %s", resp.status, resp.body)
		}
		// The backend's close_notify and FIN follow its answer at
		// once; they have arrived long before this.
		time.Sleep(20 * time.Millisecond)
		if resp := e.post(t, "/x", "body"); resp.status != http.StatusOK {
			t.Fatalf("POST after the backend closed the connection: %d %s", resp.status, resp.body)
		}
		if n := served.Load(); n != 2 {
			t.Errorf("backend served %d requests, want 2", n)
		}
		if n := be.conns.Load(); n != 2 {
			t.Errorf("backend accepted %d connections, want 2", n)
		}
	})
}

// TestRequestBodies checks that request bodies reach the backend whole and
// framed as the client framed them: a Content-Length as such, a body of
// unknown length chunked and streamed, with its trailers.
func TestRequestBodies(t *testing.T) {
	p := newPKI(t)
	first := make(chan struct{}, 1)
	be := newBackend(t, p.root, p.root, bodyHandler(first))
	e := edgeFor(t, p, be.URL)

	// A body that is not all one letter, so that a piece lost or
	// repeated shows in the hash.
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte('a' + i%23)
	}

	t.Run("Content-Length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url("/upload"), bytes.NewReader(big))
		rep := e.send(t, req).bodyReport(t)
		if rep.ContentLength != int64(len(big)) || len(rep.TransferEncoding) != 0 {
			t.Errorf("backend saw Content-Length %d Transfer-Encoding %q, want %d and none", rep.ContentLength, rep.TransferEncoding, len(big))
		}
		if rep.Length != len(big) || rep.SHA256 != sum(big) {
			t.Errorf("backend got %d bytes, want %d intact", rep.Length, len(big))
		}
	})

	t.Run("PUT with Content-Length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, e.url("/upload"), strings.NewReader("small"))
		rep := e.send(t, req).bodyReport(t)
		if rep.Method != "PUT" || rep.ContentLength != 5 || rep.SHA256 != sum([]byte("small")) {
			t.Errorf("backend saw %s with Content-Length %d and sha %s", rep.Method, rep.ContentLength, rep.SHA256)
		}
	})

	t.Run("empty POST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url("/upload"), http.NoBody)
		rep := e.send(t, req).bodyReport(t)
		if rep.ContentLength != 0 || rep.Length != 0 || len(rep.TransferEncoding) != 0 {
			t.Errorf("backend saw Content-Length %d, %d bytes, Transfer-Encoding %q; want an empty body of length 0",
				rep.ContentLength, rep.Length, rep.TransferEncoding)
		}
	})

	// A body without a Content-Length goes on chunked, and piece by
	// piece: the backend has the first part while the client still holds
	// the second back, so an edge that waited for the whole body would
	// never finish.
	for _, withTrailer := range []bool{false, true} {
		name := "chunked and streamed"
		if withTrailer {
			name += " with a trailer"
		}
		t.Run(name, func(t *testing.T) {
			part1, part2 := big[:1000], big[1000:]
			pr, pw := io.Pipe()
			req, _ := http.NewRequest(http.MethodPost, e.url("/upload"), pr)
			req.Header.Set("X-First-Part", strconv.Itoa(len(part1)))
			if withTrailer {
				req.Trailer = http.Header{"X-Checksum": nil}
			}
			go func() {
				if _, err := pw.Write(part1); err != nil {
					return
				}
				select {
				case <-first:
				case <-time.After(waitLong):
					pw.CloseWithError(errors.New("the backend did not get the first part while the client held the rest back"))
					return
				}
				pw.Write(part2)
				if withTrailer {
					req.Trailer.Set("X-Checksum", sum(big))
				}
				pw.Close()
			}()
			rep := e.send(t, req).bodyReport(t)
			if rep.ContentLength != -1 || len(rep.TransferEncoding) != 1 || rep.TransferEncoding[0] != "chunked" {
				t.Errorf("backend saw Content-Length %d Transfer-Encoding %q, want -1 and chunked", rep.ContentLength, rep.TransferEncoding)
			}
			if rep.Length != len(big) || rep.SHA256 != sum(big) {
				t.Errorf("backend got %d bytes, want %d intact", rep.Length, len(big))
			}
			if got := rep.Trailer.Get("X-Checksum"); withTrailer && got != sum(big) {
				t.Errorf("backend got trailer X-Checksum %q (trailers %v), want %q", got, rep.Trailer, sum(big))
			} else if !withTrailer && len(rep.Trailer) != 0 {
				t.Errorf("backend got trailers %v, want none", rep.Trailer)
			}
		})
	}
	if n := be.conns.Load(); n > 2 {
		t.Errorf("backend accepted %d connections for sequential requests, want at most 2", n)
	}
}

// rawRequest sends a request the test frames itself on a new connection to
// the edge, with body written from a goroutine whose errors are ignored
// (the edge may stop reading it), and reads the answer.
func rawRequest(t *testing.T, e *edge, head string, body io.Reader) (*http.Response, []byte, error) {
	t.Helper()
	c := e.dialEdge(t)
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		go io.Copy(c, body)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestEarlyAnswer checks that a backend that answers before reading a large
// request body (a 413, typically) has its answer passed on, not a 502
// about the body that could not be sent, and that the next request works.
func TestEarlyAnswer(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			// Not a byte of the body is read.
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, "too big for me\n")
			return
		}
		echoHandler(w, r)
	})
	e := edgeFor(t, p, be.URL)
	const size = 4 << 20
	host := strings.TrimPrefix(e.baseURL, "http://")
	for _, tc := range []struct {
		name    string
		framing string
		body    func() io.Reader
	}{
		{"Content-Length", "Content-Length: " + strconv.Itoa(size), func() io.Reader { return bytes.NewReader(make([]byte, size)) }},
		{"chunked", "Transfer-Encoding: chunked", func() io.Reader {
			// One 4 MiB chunk, never ended: the backend must not
			// need it.
			return io.MultiReader(strings.NewReader(strconv.FormatInt(size, 16)+"\r\n"), bytes.NewReader(make([]byte, size)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := "POST " + edgePath("/upload") + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/octet-stream\r\n" + tc.framing + "\r\n\r\n"
			resp, body, err := rawRequest(t, e, head, tc.body())
			if err != nil {
				t.Fatalf("the client got no answer: %v", err)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != "too big for me\n" {
				t.Fatalf("got %d %q, want the backend's 413 %q", resp.StatusCode, body, "too big for me\n")
			}
			if got := e.get(t, "/after").echo(t); got.Path != "/after" {
				t.Errorf("the next request reached %q", got.Path)
			}
		})
	}
}

// TestResponseTrailers checks that a backend's trailers reach the client
// after the body, and that a client's Te: trailers is passed on.
func TestResponseTrailers(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw-Te", r.Header.Get("Te"))
		switch r.URL.Path {
		case "/declared":
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "abc123")
		case "/undeclared":
			// A trailer known only at the end, which net/http sends
			// without a Trailer field announcing it.
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "late-value")
		}
	})
	e := edgeFor(t, p, be.URL)
	for _, tc := range []struct {
		name, path, te   string
		wantTe           string // what the backend saw
		trailer, wantVal string
	}{
		{"declared, client sends Te: trailers", "/declared", "trailers", "trailers", "X-Checksum", "abc123"},
		{"declared, client sends Te with more", "/declared", "deflate, trailers", "trailers", "X-Checksum", "abc123"},
		// The edge passes trailers on whether or not the client said
		// it takes them: a client that does not may drop them, which
		// is allowed.
		{"declared, no Te", "/declared", "", "", "X-Checksum", "abc123"},
		// net/http's ReverseProxy, which the upstream replaced, passes
		// undeclared trailers on too (with http.TrailerPrefix).
		{"undeclared", "/undeclared", "trailers", "trailers", "X-Late", "late-value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.url(tc.path), nil)
			if tc.te != "" {
				req.Header.Set("Te", tc.te)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != "body" {
				t.Fatalf("got %d %q (%v), want 200 %q", resp.StatusCode, body, err, "body")
			}
			if got := resp.Header.Get("X-Saw-Te"); got != tc.wantTe {
				t.Errorf("backend saw Te %q, want %q", got, tc.wantTe)
			}
			if got := resp.Trailer.Get(tc.trailer); got != tc.wantVal {
				t.Errorf("client got trailer %s %q (trailers %v), want %q", tc.trailer, got, resp.Trailer, tc.wantVal)
			}
		})
	}

	// The upstream itself does read the undeclared trailer: Fetch, which
	// hands the upstream's response over as it is, has it. So a trailer
	// the client misses is lost on the handler's side.
	t.Run("undeclared, through Fetch", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, be.URL+"/undeclared", nil)
		resp, err := e.handler.Fetch(context.Background(), deployment.Account, deployment.Project, req,
			proxy.FetchOptions{MTLSCertificate: "myBackendCert"})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "body" {
			t.Fatalf("body %q (%v)", body, err)
		}
		if got := resp.Trailer.Get("X-Late"); got != "late-value" {
			t.Errorf("Fetch got trailer X-Late %q (trailers %v), want %q", got, resp.Trailer, "late-value")
		}
	})
}

// TestEventStream checks that an event stream is passed on as it comes,
// however the backend frames it: chunked, ended by the close, or even with
// a Content-Length (an event stream is flushed whatever it announces).
func TestEventStream(t *testing.T) {
	p := newPKI(t)
	const ev1, ev2 = "data: one\n\n", "data: two\n\n"
	for _, tc := range []struct {
		name string
		head string // "" for net/http's chunked framing
	}{
		{"chunked", ""},
		{"ended by close", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"},
		{"Content-Length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + strconv.Itoa(len(ev1+ev2)) + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			done := make(chan struct{})
			t.Cleanup(func() { close(done) })
			wait := func() bool {
				select {
				case <-release:
					return true
				case <-done:
					return false
				}
			}
			var url string
			if tc.head == "" {
				be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, ev1)
					w.(http.Flusher).Flush()
					if wait() {
						io.WriteString(w, ev2)
					}
				})
				url = be.URL
			} else {
				be := newRawBackend(t, p, func(c *tls.Conn, br *bufio.Reader) {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, tc.head+ev1)
					if wait() {
						io.WriteString(c, ev2)
					}
				})
				url = be.URL
			}
			e := edgeFor(t, p, url)
			resp, err := e.client.Get(e.url("/events"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
				t.Fatalf("got %d Content-Type %q", resp.StatusCode, ct)
			}
			got := make(chan string, 1)
			go func() {
				buf := make([]byte, len(ev1))
				_, err := io.ReadFull(resp.Body, buf)
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- string(buf)
			}()
			select {
			case s := <-got:
				if s != ev1 {
					t.Fatalf("first event %q, want %q", s, ev1)
				}
			case <-time.After(waitLong):
				t.Fatal("the first event did not arrive while the backend held the second back")
			}
			close(release)
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != ev2 {
				t.Errorf("after the first event: %q (%v), want %q", rest, err, ev2)
			}
		})
	}
}

// TestBackendBodyFails checks that a response body the backend cuts off is
// not passed on as a whole one: the client sees its connection end before
// the body does, and the edge goes on serving.
func TestBackendBodyFails(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name     string
		answer   string
		chunked  bool
		wantPart string // what of the body the client gets before the cut, when it gets the head
	}{
		{"Content-Length 1000, 10 bytes sent", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", false, "0123456789"},
		{"chunked, no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n", true, "0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/cut" {
					echoHandler(w, r)
					return
				}
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				brw.WriteString(tc.answer)
				brw.Flush()
				c.Close()
			})
			e := edgeFor(t, p, be.URL)
			host := strings.TrimPrefix(e.baseURL, "http://")
			resp, body, err := rawRequest(t, e, "GET "+edgePath("/cut")+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n", nil)
			switch {
			case resp == nil && err != nil:
				// The edge had sent nothing yet: the connection
				// ended before the head. The client cannot take
				// that for an answer.
				if tc.chunked {
					t.Errorf("no answer at all (%v), want the head and the first chunk: a stream is flushed as it comes", err)
				}
				t.Logf("the connection ended before the head: %v", err)
			case err == nil:
				t.Fatalf("the client got a complete answer %d %q for a body the backend cut off", resp.StatusCode, body)
			default:
				if resp.StatusCode != http.StatusOK || string(body) != tc.wantPart || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("got %d %q then %v, want 200 %q then an unexpected EOF", resp.StatusCode, body, err, tc.wantPart)
				}
			}
			if got := e.get(t, "/next").echo(t); got.Path != "/next" {
				t.Errorf("the next request reached %q", got.Path)
			}
		})
	}
}

// TestClientGoneCancelsBackend checks that a client that goes away while the
// backend is slow ends the request at the backend: the edge closes its
// connection, which ends the backend's request context. The edge's server
// watches the client's connection once the handler has waited 100ms.
func TestClientGoneCancelsBackend(t *testing.T) {
	p := newPKI(t)
	started := make(chan string, 1)
	cancelled := make(chan string, 1)
	var closed atomic.Int64
	be := newBackendWith(t, p, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			echoHandler(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		started <- r.Method + " " + strconv.Itoa(len(body))
		select {
		case <-r.Context().Done():
			cancelled <- r.Method
		case <-time.After(3 * waitLong):
			w.WriteHeader(http.StatusOK)
		}
	}, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed.Add(1)
			}
		}
	})
	var obs statusLog
	e := edgeFor(t, p, be.URL, func(c *proxy.Config) { c.Observer = &obs })
	host := strings.TrimPrefix(e.baseURL, "http://")
	for _, tc := range []struct {
		method, body string
	}{
		{"GET", ""},
		{"POST", strings.Repeat("x", 5000)},
	} {
		t.Run(tc.method, func(t *testing.T) {
			closedBefore, goneBefore := closed.Load(), obs.count(499)
			c := e.dialEdge(t)
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", tc.method, edgePath("/slow"), host, len(tc.body), tc.body)
			select {
			case got := <-started:
				if want := tc.method + " " + strconv.Itoa(len(tc.body)); got != want {
					t.Fatalf("backend got %q, want %q", got, want)
				}
			case <-time.After(waitLong):
				t.Fatal("the request did not reach the backend")
			}
			c.Close()
			select {
			case m := <-cancelled:
				if m != tc.method {
					t.Errorf("cancelled %s, want %s", m, tc.method)
				}
			case <-time.After(waitLong):
				t.Fatal("the backend's request went on after the client had gone")
			}
			// The backend connection is closed, not pooled: it
			// carries a request the backend was still serving.
			if !eventually(func() bool { return closed.Load() > closedBefore }) {
				t.Error("the backend connection was not closed")
			}
			if !eventually(func() bool { return obs.count(499) == goneBefore+1 }) {
				t.Errorf("observer saw statuses %v, want a 499 for the client that went away", obs.snapshot())
			}
		})
	}
	if got := e.get(t, "/after").echo(t); got.Path != "/after" {
		t.Errorf("the next request reached %q", got.Path)
	}
}

// echoUpgrade switches the connection of w to proto with a 101 and echoes
// what comes on it until the other side closes; it reports the end on
// ended if that is not nil.
func echoUpgrade(w http.ResponseWriter, proto string, ended chan<- struct{}) {
	c, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	io.Copy(c, brw.Reader)
	if ended != nil {
		ended <- struct{}{}
	}
}

// TestUpgrade checks protocol upgrades through the edge (a websocket's
// path): the client's Upgrade reaches the backend, the backend's 101 comes
// back, and then bytes flow both ways until the client closes, which the
// backend sees. A 101 the client did not ask for is answered 502.
func TestUpgrade(t *testing.T) {
	p := newPKI(t)
	ended := make(chan struct{}, 4)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			if !strings.EqualFold(r.Header.Get("Connection"), "upgrade") || r.Header.Get("Upgrade") != "echo-proto" {
				http.Error(w, fmt.Sprintf("Connection %q Upgrade %q", r.Header.Get("Connection"), r.Header.Get("Upgrade")), http.StatusUpgradeRequired)
				return
			}
			echoUpgrade(w, "echo-proto", ended)
		case "/sneaky":
			// Switches whatever was asked.
			echoUpgrade(w, "echo-proto", nil)
		case "/other":
			echoUpgrade(w, "other-proto", nil)
		default:
			echoHandler(w, r)
		}
	})
	e := edgeFor(t, p, be.URL)
	host := strings.TrimPrefix(e.baseURL, "http://")
	upgradeHead := func(path string) string {
		return "GET " + edgePath(path) + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n\r\n"
	}

	for _, tc := range []struct {
		name  string
		early string // sent with the request, before the 101
	}{
		{"echo", ""},
		{"bytes sent before the 101", "early bytes|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dialEdge(t)
			if _, err := io.WriteString(c, upgradeHead("/ws")+tc.early); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %s, want 101", resp.StatusCode, body)
			}
			if up, conn := resp.Header.Get("Upgrade"), resp.Header.Get("Connection"); up != "echo-proto" || !strings.EqualFold(conn, "upgrade") {
				t.Errorf("101 with Upgrade %q Connection %q, want echo-proto and Upgrade", up, conn)
			}
			for _, msg := range []string{"hello", "world, a longer message"} {
				if _, err := io.WriteString(c, msg); err != nil {
					t.Fatal(err)
				}
				want := tc.early + msg
				tc.early = ""
				got := make([]byte, len(want))
				if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
					t.Fatalf("echo %q (%v), want %q", got, err, want)
				}
			}
			c.Close()
			select {
			case <-ended:
			case <-time.After(waitLong):
				t.Fatal("the backend's side of the upgraded connection did not end when the client closed")
			}
		})
	}

	t.Run("101 to a request that did not ask", func(t *testing.T) {
		got := e.get(t, "/sneaky").apiError(t, http.StatusBadGateway, "backend_upgrade_failed")
		contains(t, "message", got.Message, "switched protocols")
		// The backend's connection now speaks another protocol: it
		// must not serve the next request.
		if got := e.get(t, "/after-sneaky").echo(t); got.Path != "/after-sneaky" {
			t.Errorf("the next request reached %q", got.Path)
		}
	})

	t.Run("101 to another protocol", func(t *testing.T) {
		resp, body, err := rawRequest(t, e, upgradeHead("/other"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := response{status: resp.StatusCode, header: resp.Header, body: body}
		got := r.apiError(t, http.StatusBadGateway, "backend_upgrade_failed")
		contains(t, "message", got.Message, "other-proto", "echo-proto")
		if got := e.get(t, "/after-other").echo(t); got.Path != "/after-other" {
			t.Errorf("the next request reached %q", got.Path)
		}
	})
}

// TestPoolReuse checks which answers leave the backend connection
// reusable: sequential requests use one connection (two at most, should
// one be closed on a slow machine) unless the backend asks to close.
func TestPoolReuse(t *testing.T) {
	p := newPKI(t)
	const n = 100
	for _, tc := range []struct {
		name      string
		do        func(t *testing.T, e *edge, i int) error
		wantConns func(int64) bool
		want      string
	}{
		{"POST with bodies", func(t *testing.T, e *edge, i int) error {
			body := fmt.Sprintf("request %d %s", i, strings.Repeat("z", i*37))
			if rep := e.post(t, "/x", body).bodyReport(t); rep.Length != len(body) || rep.SHA256 != sum([]byte(body)) {
				return fmt.Errorf("backend got %d bytes, want %d", rep.Length, len(body))
			}
			return nil
		}, atMost2, "at most 2"},
		{"chunked POST", func(t *testing.T, e *edge, i int) error {
			body := fmt.Sprintf("request %d", i)
			// A reader of unknown length: the client sends it chunked.
			req, _ := http.NewRequest(http.MethodPost, e.url("/x"), io.MultiReader(strings.NewReader(body)))
			if rep := e.send(t, req).bodyReport(t); rep.ContentLength != -1 || rep.SHA256 != sum([]byte(body)) {
				return fmt.Errorf("backend got Content-Length %d, sha %s", rep.ContentLength, rep.SHA256)
			}
			return nil
		}, atMost2, "at most 2"},
		{"HEAD", func(t *testing.T, e *edge, i int) error {
			r := e.do(t, http.MethodHead, e.url("/x"), nil)
			if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") == "" {
				return fmt.Errorf("HEAD: %d, %d bytes, Content-Length %q", r.status, len(r.body), r.header.Get("Content-Length"))
			}
			return nil
		}, atMost2, "at most 2"},
		{"204", bodyless(http.StatusNoContent), atMost2, "at most 2"},
		{"304", bodyless(http.StatusNotModified), atMost2, "at most 2"},
		{"chunked answers", func(t *testing.T, e *edge, i int) error {
			if r := e.get(t, "/chunked"); r.status != http.StatusOK || string(r.body) != "part one, part two" {
				return fmt.Errorf("got %d %q", r.status, r.body)
			}
			return nil
		}, atMost2, "at most 2"},
		// The control: a backend that asks to close gets a new
		// connection for each request, which the count must show.
		{"Connection: close", func(t *testing.T, e *edge, i int) error {
			if r := e.get(t, "/x?close=1"); r.status != http.StatusOK {
				return fmt.Errorf("got %d %s", r.status, r.body)
			}
			return nil
		}, func(c int64) bool { return c == n }, "one per request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/204":
					w.WriteHeader(http.StatusNoContent)
				case r.URL.Path == "/304":
					w.Header().Set("Etag", `"v1"`)
					w.WriteHeader(http.StatusNotModified)
				case r.URL.Path == "/chunked":
					io.WriteString(w, "part one, ")
					w.(http.Flusher).Flush()
					io.WriteString(w, "part two")
				case r.Method == http.MethodPost:
					bodyHandler(nil)(w, r)
				default:
					echoHandler(w, r)
				}
			})
			e := edgeFor(t, p, be.URL)
			failed := 0
			for i := range n {
				if err := tc.do(t, e, i); err != nil {
					failed++
					t.Errorf("request %d: %v", i, err)
				}
			}
			if failed > 0 {
				t.Fatalf("%d of %d requests failed", failed, n)
			}
			if c := be.conns.Load(); !tc.wantConns(c) {
				t.Errorf("backend accepted %d connections for %d sequential requests, want %s", c, n, tc.want)
			}
			if r := be.requests.Load(); r != n {
				t.Errorf("backend served %d requests, want %d", r, n)
			}
		})
	}
}

func atMost2(c int64) bool { return c >= 1 && c <= 2 }

// bodyless returns a request for /CODE that must be answered CODE with no
// body.
func bodyless(code int) func(t *testing.T, e *edge, i int) error {
	return func(t *testing.T, e *edge, i int) error {
		if r := e.get(t, "/"+strconv.Itoa(code)); r.status != code || len(r.body) != 0 {
			return fmt.Errorf("got %d %q, want %d and no body", r.status, r.body, code)
		}
		return nil
	}
}

// TestNoRetryOfNonIdempotent checks which requests are sent again when a
// reused connection ends before any of the answer came. That happens when
// the backend closed it while idle, but also when the backend got the
// request, acted on it and died (or dropped it) before answering; a proxy
// must not send a non-idempotent request twice (RFC 9110, section
// 9.2.2: "A proxy MUST NOT automatically retry non-idempotent requests").
func TestNoRetryOfNonIdempotent(t *testing.T) {
	p := newPKI(t)
	var hits sync.Map // method -> *atomic.Int64
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/crash" {
			echoHandler(w, r)
			return
		}
		v, _ := hits.LoadOrStore(r.Method, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		// The request was acted on; the answer never comes, and the
		// server closes the connection.
		panic(http.ErrAbortHandler)
	})
	e := edgeFor(t, p, be.URL)
	for _, tc := range []struct {
		method string
		want   int64 // times the backend acts on the request
	}{
		// GET may be sent again: it is idempotent, and the second
		// attempt fails as the first did.
		{http.MethodGet, 2},
		{http.MethodPost, 1},
		{http.MethodPatch, 1},
	} {
		t.Run(tc.method, func(t *testing.T) {
			// A request first, so that the next one goes on a
			// reused connection.
			e.get(t, "/warm").echo(t)
			req, _ := http.NewRequest(tc.method, e.url("/crash"), nil)
			e.send(t, req).apiError(t, http.StatusBadGateway, "backend_unreachable")
			var got int64
			if v, ok := hits.Load(tc.method); ok {
				got = v.(*atomic.Int64).Load()
			}
			if got != tc.want {
				t.Errorf("the backend got %s /crash %d times, want %d", tc.method, got, tc.want)
			}
		})
	}
}

// TestFetchBodies checks Fetch with request bodies, fixed-length and
// streamed with a trailer, on the pool's reused connections.
func TestFetchBodies(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, bodyHandler(nil))
	e := edgeFor(t, p, be.URL)
	opt := proxy.FetchOptions{MTLSCertificate: "myBackendCert"}
	fetch := func(t *testing.T, req *http.Request) bodyReport {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		resp, err := e.handler.Fetch(ctx, deployment.Account, deployment.Project, req, opt)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: body}.bodyReport(t)
	}

	const n = 30
	for i := range n {
		body := fmt.Sprintf("fetch %d %s", i, strings.Repeat("f", 100*i))
		req, _ := http.NewRequest(http.MethodPost, be.URL+"/fetch", strings.NewReader(body))
		rep := fetch(t, req)
		if rep.Method != "POST" || rep.ContentLength != int64(len(body)) || rep.SHA256 != sum([]byte(body)) {
			t.Fatalf("fetch %d: backend saw %s, Content-Length %d, %d bytes; want POST with %d intact",
				i, rep.Method, rep.ContentLength, rep.Length, len(body))
		}
	}
	if c := be.conns.Load(); c > 2 {
		t.Errorf("backend accepted %d connections for %d sequential fetches, want at most 2", c, n)
	}

	t.Run("streamed with a trailer", func(t *testing.T) {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPut, be.URL+"/fetch", pr)
		req.Trailer = http.Header{"X-Checksum": nil}
		body := strings.Repeat("stream ", 5000)
		go func() {
			io.WriteString(pw, body[:100])
			io.WriteString(pw, body[100:])
			req.Trailer.Set("X-Checksum", sum([]byte(body)))
			pw.Close()
		}()
		rep := fetch(t, req)
		if rep.Method != "PUT" || rep.ContentLength != -1 || rep.SHA256 != sum([]byte(body)) {
			t.Errorf("backend saw %s, Content-Length %d, %d bytes; want PUT, chunked, %d intact", rep.Method, rep.ContentLength, rep.Length, len(body))
		}
		if got := rep.Trailer.Get("X-Checksum"); got != sum([]byte(body)) {
			t.Errorf("backend got trailer X-Checksum %q, want %q", got, sum([]byte(body)))
		}
	})

	t.Run("body shorter than its length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, be.URL+"/fetch", strings.NewReader("short"))
		req.ContentLength = 10
		_, err := e.handler.Fetch(context.Background(), deployment.Account, deployment.Project, req, opt)
		if err == nil || !strings.Contains(err.Error(), "the body ended after 5 of the 10 bytes announced") {
			t.Errorf("Fetch: %v, want the body's shortfall", err)
		}
	})
}

// TestReuseAfterDeadline reuses a connection that sat idle past the
// backend timeout after an answer that came whole: the deadline of the
// last answer, left on it, must neither make it look dead when it is
// checked nor cut the next answer short.
func TestReuseAfterDeadline(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, echoHandler)
	e := edgeFor(t, p, be.URL, func(c *proxy.Config) { c.BackendTimeout = 200 * time.Millisecond })
	for i := range 3 {
		if r := e.get(t, "/x"); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		// Past the backend timeout and its slack (an eighth).
		time.Sleep(300 * time.Millisecond)
	}
	if c := be.conns.Load(); c != 1 {
		t.Errorf("backend accepted %d connections for 3 sequential requests, want 1", c)
	}
}
