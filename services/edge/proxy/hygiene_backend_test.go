package proxy_test

// Tests of what the edge does with a backend that sends more than its
// answer: a second, unsolicited answer after the first (at once or a little
// later), a body on an answer that has none, more bytes than its
// Content-Length, framing fields that disagree. Whatever such a backend
// sends, no request may get an answer meant for another, and above all not
// one of another account. Every backend answer is tagged with the id of the
// request it answers (X-Request-Id), and each client checks it gets its own.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/state"
)

// scripted is a backend on 127.0.0.1 whose answers a test writes byte by
// byte: over TLS (a server certificate from the tests' root, no client
// certificate asked for, so that routes without one can reach it) or plain
// TCP.
type scripted struct {
	URL   string
	conns atomic.Int64
}

// wire is one connection of a scripted backend, as its answer function
// writes to it.
type wire struct {
	conn net.Conn // a *tls.Conn over TLS
	cork *corkConn
}

// write sends s in one write: one TLS record for up to 16 KiB.
func (w *wire) write(s string) { io.WriteString(w.conn, s) }

// records sends each part as a TLS record of its own, all in one write to
// the TCP connection, so that they arrive together.
func (w *wire) records(parts ...string) {
	w.cork.set(true)
	for _, p := range parts {
		io.WriteString(w.conn, p)
	}
	w.cork.set(false)
}

// corkConn holds what is written to it while corked and writes it all at
// once when uncorked.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) set(corked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = corked
	if !corked && len(c.buf) > 0 {
		c.Conn.Write(c.buf)
		c.buf = c.buf[:0]
	}
}

// newScripted starts a backend that reads each request (and its body) and
// has answer write the answer; over TLS when p is not nil.
func newScripted(t *testing.T, p *pki, answer func(w *wire, req *http.Request)) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{URL: "http://" + ln.Addr().String()}
	var cfg *tls.Config
	if p != nil {
		cfg = &tls.Config{Certificates: backendTLS(t, p.root, p.root).Certificates}
		s.URL = "https://" + ln.Addr().String()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]bool{}
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open[nc] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					nc.Close()
					mu.Lock()
					delete(open, nc)
					mu.Unlock()
				}()
				w := &wire{cork: &corkConn{Conn: nc}}
				w.conn = w.cork
				if cfg != nil {
					tc := tls.Server(w.cork, cfg)
					tc.SetDeadline(time.Now().Add(waitLong))
					if err := tc.Handshake(); err != nil {
						return
					}
					tc.SetDeadline(time.Time{})
					w.conn = tc
				}
				br := bufio.NewReader(w.conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					answer(w, req)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// answerTo is a backend's answer to the request id: tagged with it in a
// header and in the body.
func answerTo(id string) string {
	body := "answer to " + id
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s", id, len(body), body)
}

// forgedAfter is an answer nobody asked for, sent after the answer to id,
// with a cookie of the client that sent id.
func forgedAfter(id string) string {
	body := "forged after " + id
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: forged-after-%s\r\nSet-Cookie: session=of-%s\r\nContent-Length: %d\r\n\r\n%s",
		id, id, len(body), body)
}

// askEdge sends method path to the edge with X-Request-Id id and returns
// the id of the answer the client got ("" for none) and its status; it
// fails the test when the request fails.
func askEdge(t *testing.T, e *edge, method, url, id string) (got string, status int) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("X-Request-Id", id)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	got = resp.Header.Get("X-Request-Id")
	bodyless := method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	if !bodyless && got != "" && string(body) != "answer to "+got && !strings.HasPrefix(got, "forged") {
		t.Errorf("request %s: the answer tagged %q has the body %q", id, got, body)
	}
	return got, resp.StatusCode
}

// wantOwn fails the test unless the request id got its own answer.
func wantOwn(t *testing.T, id, got string, status int) {
	t.Helper()
	if got != id || status != http.StatusOK {
		t.Errorf("request %s got status %d and the answer to %q, want its own", id, status, got)
	}
}

// TestUnsolicitedAnswer has the backend send a second answer nobody asked
// for after each one: the next request on the connection would take it
// for its own. Each request must get its own answer, however the second
// one arrives.
func TestUnsolicitedAnswer(t *testing.T) {
	p := newPKI(t)
	late := make(chan string, 1)
	for _, tc := range []struct {
		name  string
		plain bool
		send  func(w *wire, id string)
		// wait, if set, has the client wait after each answer until
		// the unsolicited one has been sent: one that comes after the
		// next request has been sent cannot be told from its answer,
		// by the edge or anyone.
		wait bool
	}{
		{name: "in the same write", send: func(w *wire, id string) { w.write(answerTo(id) + forgedAfter(id)) }},
		{name: "in the same write, plain TCP", plain: true, send: func(w *wire, id string) { w.write(answerTo(id) + forgedAfter(id)) }},
		{name: "as a TLS record of its own, in the same TCP segment", send: func(w *wire, id string) { w.records(answerTo(id), forgedAfter(id)) }},
		{name: "a write right after", wait: true, send: func(w *wire, id string) {
			w.write(answerTo(id))
			w.write(forgedAfter(id))
			late <- id
		}},
		{name: "a few milliseconds later", wait: true, send: func(w *wire, id string) {
			w.write(answerTo(id))
			time.Sleep(5 * time.Millisecond)
			w.write(forgedAfter(id))
			late <- id
		}},
		{name: "a few milliseconds later, plain TCP", plain: true, wait: true, send: func(w *wire, id string) {
			w.write(answerTo(id))
			time.Sleep(5 * time.Millisecond)
			w.write(forgedAfter(id))
			late <- id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk := p
			if tc.plain {
				pk = nil
			}
			be := newScripted(t, pk, func(w *wire, req *http.Request) { tc.send(w, req.Header.Get("X-Request-Id")) })
			e := newEdge(t, certPool(p.root))
			e.deploy([]state.Route{forward("/*", be.URL, nil)})
			for i := range 5 {
				id := fmt.Sprintf("r%d", i)
				got, status := askEdge(t, e, http.MethodGet, e.url("/x"), id)
				wantOwn(t, id, got, status)
				if tc.wait {
					select {
					case <-late:
					case <-time.After(waitLong):
						t.Fatal("the backend never sent its late answer")
					}
				}
			}
		})
	}
}

// TestBodylessAnswerWithBody has the backend send bytes after answers that
// have no body whatever their fields say: to a HEAD, and a 204 or 304. The
// bytes are an answer of their own, which the next request would take.
func TestBodylessAnswerWithBody(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name   string
		method string
		head   string // the answer's head up to its framing fields
		want   int
	}{
		{"HEAD with a Content-Length and its body", http.MethodHead, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", http.StatusOK},
		{"HEAD chunked with a body", http.MethodHead, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", http.StatusOK},
		{"204 with a Content-Length and a body", http.MethodGet, "HTTP/1.1 204 No Content\r\nContent-Length: %d\r\n", http.StatusNoContent},
		{"304 with a Content-Length and a body", http.MethodGet, "HTTP/1.1 304 Not Modified\r\nContent-Length: %d\r\n", http.StatusNotModified},
		{"204 chunked with a body", http.MethodGet, "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newScripted(t, p, func(w *wire, req *http.Request) {
				id := req.Header.Get("X-Request-Id")
				if strings.HasPrefix(id, "next-") {
					w.write(answerTo(id))
					return
				}
				// The "body" is an answer of its own.
				body := forgedAfter(id)
				head := tc.head
				if strings.Contains(head, "%d") {
					head = fmt.Sprintf(head, len(body))
				} else {
					body = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
				}
				w.write(head + "X-Request-Id: " + id + "\r\n\r\n" + body)
			})
			e := newEdge(t, certPool(p.root))
			e.deploy([]state.Route{forward("/*", be.URL, nil)})
			for i := range 3 {
				id := fmt.Sprintf("bodyless-%d", i)
				if got, status := askEdge(t, e, tc.method, e.url("/x"), id); got != id || status != tc.want {
					t.Errorf("%s %s: status %d, answer to %q; want %d, its own", tc.method, id, status, got, tc.want)
				}
				id = fmt.Sprintf("next-%d", i)
				got, status := askEdge(t, e, http.MethodGet, e.url("/x"), id)
				wantOwn(t, id, got, status)
			}
		})
	}
}

// TestBodyLongerThanItsLength has the backend send more bytes than its
// Content-Length says, and framing fields that disagree: what follows the
// body is never read as the next request's answer, and a connection whose
// answer was framed two ways is not used again.
func TestBodyLongerThanItsLength(t *testing.T) {
	p := newPKI(t)
	t.Run("more than Content-Length", func(t *testing.T) {
		be := newScripted(t, p, func(w *wire, req *http.Request) {
			id := req.Header.Get("X-Request-Id")
			body := "answer to " + id
			w.write(fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s%s", id, len(body), body, forgedAfter(id)))
		})
		e := newEdge(t, certPool(p.root))
		e.deploy([]state.Route{forward("/*", be.URL, nil)})
		for i := range 5 {
			id := fmt.Sprintf("r%d", i)
			got, status := askEdge(t, e, http.MethodGet, e.url("/x"), id)
			wantOwn(t, id, got, status)
		}
	})
	for _, tc := range []struct {
		name, head string
	}{
		{"Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"},
		{"HTTP/1.0 keep-alive with Transfer-Encoding", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newScripted(t, p, func(w *wire, req *http.Request) {
				id := req.Header.Get("X-Request-Id")
				body := "answer to " + id
				head := tc.head
				if strings.Contains(head, "%d") {
					head = fmt.Sprintf(head, len(body))
				} else {
					body = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
				}
				w.write(head + "X-Request-Id: " + id + "\r\n\r\n" + body)
			})
			e := newEdge(t, certPool(p.root))
			e.deploy([]state.Route{forward("/*", be.URL, nil)})
			const n = 3
			for i := range n {
				id := fmt.Sprintf("r%d", i)
				got, status := askEdge(t, e, http.MethodGet, e.url("/x"), id)
				wantOwn(t, id, got, status)
			}
			if c := be.conns.Load(); c != n {
				t.Errorf("the backend accepted %d connections for %d requests, want one each: an answer framed two ways closes its connection", c, n)
			}
		})
	}
}

// The two accounts of TestAccountsShareBackend.
var (
	accountA = state.Key{Account: "acme", Project: "shop", Environment: "prod"}
	accountB = state.Key{Account: "globex", Project: "shop", Environment: "prod"}
)

// deployAccounts serves "/*" from backendURL, without certificates, in a
// deployment of each of keys.
func deployAccounts(e *edge, backendURL string, keys ...state.Key) {
	e.store.Update(func(next *state.Snapshot) {
		for i, k := range keys {
			next.Deployments[k] = &state.Deployment{
				ID: fmt.Sprintf("dep-%d", i), Account: k.Account, Project: k.Project, Environment: k.Environment,
				EnvironmentType: "production", Routes: []state.Route{forward("/*", backendURL, nil)},
			}
		}
	})
}

func keyURL(e *edge, k state.Key, path string) string {
	return e.baseURL + "/" + k.Account + "/" + k.Project + "/" + k.Environment + path
}

// TestAccountsShareBackend has two clients of two accounts send requests
// at the same time to one backend, which misbehaves for one of them:
// after each answer to account A it sends an answer nobody asked for, with
// A's cookie, at once or a little later. Neither client may ever get an
// answer meant for another request; B must never see A's.
func TestAccountsShareBackend(t *testing.T) {
	p := newPKI(t)
	for _, mode := range []string{"trailing", "late"} {
		t.Run(mode, func(t *testing.T) {
			late := make(chan string, 1)
			be := newScripted(t, p, func(w *wire, req *http.Request) {
				id := req.Header.Get("X-Request-Id")
				switch req.Header.Get("X-Misbehave") {
				case "trailing":
					w.write(answerTo(id) + forgedAfter(id))
				case "late":
					w.write(answerTo(id))
					time.Sleep(2 * time.Millisecond)
					w.write(forgedAfter(id))
					late <- id
				default:
					w.write(answerTo(id))
				}
			})
			e := newEdge(t, certPool(p.root))
			deployAccounts(e, be.URL, accountA, accountB)

			ask := func(k state.Key, id, misbehave string) (string, int, error) {
				req, _ := http.NewRequest(http.MethodGet, keyURL(e, k, "/x"), nil)
				req.Header.Set("X-Request-Id", id)
				if misbehave != "" {
					req.Header.Set("X-Misbehave", misbehave)
				}
				resp, err := e.client.Do(req)
				if err != nil {
					return "", 0, err
				}
				defer resp.Body.Close()
				io.Copy(io.Discard, resp.Body)
				return resp.Header.Get("X-Request-Id"), resp.StatusCode, nil
			}

			const n = 100
			var (
				wg       sync.WaitGroup
				wrong    atomic.Int64
				aDone    = make(chan struct{})
				mu       sync.Mutex
				examples []string
			)
			check := func(who, id, got string, status int, err error) {
				if err == nil && got == id && status == http.StatusOK {
					return
				}
				wrong.Add(1)
				mu.Lock()
				if len(examples) < 5 {
					examples = append(examples, fmt.Sprintf("%s's request %s got status %d and the answer to %q (%v)", who, id, status, got, err))
				}
				mu.Unlock()
			}
			wg.Go(func() {
				defer close(aDone)
				for i := range n {
					id := fmt.Sprintf("%s-A-%d", mode, i)
					got, status, err := ask(accountA, id, mode)
					check("account A", id, got, status, err)
					if mode == "late" && err == nil {
						select {
						case <-late:
						case <-time.After(waitLong):
							t.Error("the backend never sent its late answer")
							return
						}
					}
				}
			})
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-aDone:
						if i >= n {
							return
						}
					default:
					}
					id := fmt.Sprintf("%s-B-%d", mode, i)
					got, status, err := ask(accountB, id, "")
					check("account B", id, got, status, err)
				}
			})
			wg.Wait()
			if w := wrong.Load(); w > 0 {
				t.Errorf("%d requests did not get their own answer, e.g.:\n%s", w, strings.Join(examples, "\n"))
			}
		})
	}
}

// TestPoolsPerAccount checks that two accounts whose routes name the same
// backend get a pool each, which Retire keeps while their routes are
// deployed and takes when one goes.
func TestPoolsPerAccount(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	// A client certificate presented by both: only the account tells
	// the pools apart.
	cert := p.clientCert(t, "cert-1", "shared", "edge client", 1)
	e.store.Update(func(next *state.Snapshot) {
		next.Certificates[cert.ID] = cert
		for i, k := range []state.Key{accountA, accountB} {
			next.Deployments[k] = &state.Deployment{
				ID: fmt.Sprintf("dep-%d", i), Account: k.Account, Project: k.Project, Environment: k.Environment,
				EnvironmentType: "production", Routes: []state.Route{forward("/*", be.URL, cert)},
			}
		}
	})
	for _, k := range []state.Key{accountA, accountB, accountA, accountB} {
		if r := e.do(t, http.MethodGet, keyURL(e, k, "/x"), nil); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", k.Account, r.status, r.body)
		}
	}
	if n := e.handler.Pools(); n != 2 {
		t.Errorf("%d pools for two accounts on one backend, want 2", n)
	}
	if c := be.conns.Load(); c != 2 {
		t.Errorf("the backend accepted %d connections for two accounts' sequential requests, want 2 (one each)", c)
	}
	// A publish that changes nothing they use keeps both.
	e.store.Update(func(next *state.Snapshot) {})
	if n := e.handler.Pools(); n != 2 {
		t.Errorf("%d pools after an unrelated publish, want 2", n)
	}
	e.store.Update(func(next *state.Snapshot) { delete(next.Deployments, accountB) })
	if n := e.handler.Pools(); n != 1 {
		t.Errorf("%d pools once account B's deployment is gone, want 1", n)
	}
}
