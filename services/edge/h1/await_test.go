package h1

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// onlyConn returns the server's one connection.
func (ts *testServer) onlyConn(t *testing.T) *conn {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.conns) != 1 {
		t.Fatalf("the server has %d connections, want 1", len(ts.conns))
	}
	for c := range ts.conns {
		return c
	}
	return nil
}

// TestNextRequestAwaited checks that a client that waits for each answer
// before its next request has that request awaited, not read at once: the
// read that would find nothing is saved. The fallback is made long so that
// a slow machine cannot make it pass.
func TestNextRequestAwaited(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.awaitFallbackFor = time.Hour })
	c := ts.dial(t)
	const n = 5
	for i := range n {
		c.write(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if r := c.read("GET"); r.body != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("answer %d: %q", i, r.body)
		}
	}
	// Every request but the first came during a wait.
	if got := ts.onlyConn(t).await.count.Load(); got != n-1 {
		t.Errorf("%d requests were awaited, want %d", got, n-1)
	}
}

// TestNextRequestLargeAnswer checks that an answer sent before the handler
// returned (a body larger than the buffer goes out as it is written) is
// not followed by a wait: the client may have sent its next request
// before the wait began. The next requests are read as before.
func TestNextRequestLargeAnswer(t *testing.T) {
	const size = 3 * writeBufferSize
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.WriteString(w, strings.Repeat("x", size))
	}), func(s *Server) { s.awaitFallbackFor = time.Hour })
	c := ts.dial(t)
	for range 3 {
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); len(r.body) != size {
			t.Fatalf("answer of %d bytes, want %d", len(r.body), size)
		}
	}
	if got := ts.onlyConn(t).await.count.Load(); got != 0 {
		t.Errorf("%d requests were awaited after answers already sent, want 0", got)
	}
}

// TestNextRequestFallback checks that a wait that falls back because the
// client sent nothing for longer than the fallback keeps the waits (the
// client was idle, not pipelining), and that the connection serves its
// next requests.
func TestNextRequestFallback(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.awaitFallbackFor = time.Millisecond })
	c := ts.dial(t)
	c.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	sc := ts.onlyConn(t)
	for sc.await.fallbacks.Load() == 0 {
		runtime.Gosched()
	}
	// Nothing was sent: the look at the socket found nothing.
	if m, n := sc.await.misses.Load(), sc.await.skip.Load(); m != 0 || n != 0 {
		t.Errorf("after an idle client's fallback: %d misses, %d answers to skip the wait; want 0 and 0", m, n)
	}
	for i := 2; i <= 4; i++ {
		c.write(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if r := c.read("GET"); r.body != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("answer %q after the fallback", r.body)
		}
	}
}

// TestNextRequestSkip checks that answers owed no wait (after one that
// may have missed a request) are sent without one, and that the waits
// come back once they are done.
func TestNextRequestSkip(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.awaitFallbackFor = time.Hour })
	c := ts.dial(t)
	c.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	// The connection waits for request 2; answers 2 and 3 go without.
	sc := ts.onlyConn(t)
	sc.await.skip.Store(2)
	for i := 2; i <= 5; i++ {
		c.write(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if r := c.read("GET"); r.body != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("answer %q", r.body)
		}
	}
	// Requests 2 and 5 came during a wait, 3 and 4 did not.
	if got, left := sc.await.count.Load(), sc.await.skip.Load(); got != 2 || left != 0 {
		t.Errorf("%d requests awaited and %d answers left to skip the wait, want 2 and 0", got, left)
	}
}

// BenchmarkNextRequest compares, in one run, a client's keep-alive
// requests served with the wait for each next request and with the read
// at once it replaces: one client, one small answer each.
func BenchmarkNextRequest(b *testing.B) {
	for _, bc := range []struct {
		name    string
		noAwait bool
	}{{"await", false}, {"read", true}} {
		b.Run(bc.name, func(b *testing.B) {
			ts := startServer(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "2")
				io.WriteString(w, "ok")
			}), func(s *Server) { s.noAwait = bc.noAwait })
			c := ts.dial(b)
			req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := skipAnswer(c.br, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// skipAnswer reads an answer's head and a body of n bytes.
func skipAnswer(br *bufio.Reader, n int) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
	}
	_, err := br.Discard(n)
	return err
}
