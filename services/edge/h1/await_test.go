package h1

import (
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
// client sent nothing for longer than the fallback leaves the connection
// serving its requests, and awaiting them still: the client was idle, not
// pipelining.
func TestNextRequestFallback(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.awaitFallbackFor = time.Millisecond })
	c := ts.dial(t)
	c.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	sc := ts.onlyConn(t)
	for sc.await.fallbacks.Load() == 0 {
		runtime.Gosched()
	}
	for i := 2; i <= 4; i++ {
		c.write(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if r := c.read("GET"); r.body != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("answer %q after the fallback", r.body)
		}
	}
	if sc.await.off.Load() {
		t.Error("an idle client's connection is no longer awaited after a fallback")
	}
}
