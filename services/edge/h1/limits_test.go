package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// refusals records what a Server gives OnRefuse.
type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *refusals) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// TestSlowBodies opens connections that each send a request body a byte at
// a time, far below MinBodyRate: every handler's read must fail with
// ErrBodyTooSlow within a few windows, and every connection must close. The
// times are short for the test; the defaults are 30s and 1 KiB/s.
func TestSlowBodies(t *testing.T) {
	const conns = 20
	const window = 300 * time.Millisecond
	var ref refusals
	errs := make(chan error, conns)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
		}
	}), func(s *Server) {
		s.BodyReadTimeout = window
		s.MinBodyRate = 1000 // 300 bytes a window
		s.OnRefuse = ref.add
	})
	stop := make(chan struct{})
	defer close(stop)
	var cs []*rawConn
	for i := range conns {
		c := ts.dial(t)
		if i%2 == 0 {
			c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
		} else {
			c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n")
		}
		cs = append(cs, c)
		go func() {
			// 10 bytes a second, until the server closes.
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
	}
	// A window, its slack and the lingering close, with room to spare.
	deadline := time.After(5 * window)
	for i := range conns {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrBodyTooSlow) {
				t.Errorf("a slow body's read ended with %v, want ErrBodyTooSlow", err)
			}
		case <-deadline:
			t.Fatalf("after %v, %d of %d slow bodies are still being read", 5*window, conns-i, conns)
		}
	}
	for _, c := range cs {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if r, err := c.tryRead("POST"); err == nil && (r.StatusCode != http.StatusRequestTimeout || !r.Close) {
			t.Errorf("answer %d (close %v), want the handler's 408 and a close", r.StatusCode, r.Close)
		}
		c.expectClosed()
	}
	if n := ref.count(RefuseBodyTooSlow); n != conns {
		t.Errorf("OnRefuse(%q) called %d times, want %d", RefuseBodyTooSlow, n, conns)
	}
}

// TestBodyPacingLetsHonestBodiesThrough covers the bodies the pacing must
// not cut: a large one sent at full speed, read by a handler that stops
// reading for longer than a window (a slow backend) before and while it
// reads; one that comes in bursts, each well within its window; a chunked
// one; and a request on the same connection after a paced body, which
// must find the connection's deadlines as they should be.
func TestBodyPacingLetsHonestBodiesThrough(t *testing.T) {
	const window = 200 * time.Millisecond
	var ref refusals
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pause" {
			time.Sleep(2 * window)
		}
		var n int64
		for {
			m, err := io.CopyN(io.Discard, r.Body, 1<<20)
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if r.URL.Path == "/pause" && n == 1<<20 {
				time.Sleep(2 * window)
			}
		}
		fmt.Fprint(w, n)
	}), func(s *Server) {
		s.BodyReadTimeout = window
		s.MinBodyRate = 64 << 10
		s.IdleTimeout = time.Second
		s.OnRefuse = ref.add
	})
	big := strings.Repeat("b", 8<<20)
	t.Run("large body, handler pausing", func(t *testing.T) {
		c := ts.dial(t)
		go io.WriteString(c.Conn, fmt.Sprintf("POST /pause HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
		if r := c.read("POST"); r.StatusCode != 200 || r.body != fmt.Sprint(len(big)) {
			t.Fatalf("answer %d %q, want 200 %d", r.StatusCode, r.body, len(big))
		}
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.StatusCode != 200 || r.body != "0" {
			t.Errorf("next request: %d %q", r.StatusCode, r.body)
		}
		c.expectOpen()
	})
	t.Run("bursts", func(t *testing.T) {
		c := ts.dial(t)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
		// Each burst is more than a window's worth, sent well within
		// it.
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 20<<10, strings.Repeat("c", 20<<10))
		for range 6 {
			c.write(chunk)
			time.Sleep(window / 3)
		}
		c.write("0\r\n\r\n")
		if r := c.read("POST"); r.StatusCode != 200 || r.body != fmt.Sprint(6*20<<10) {
			t.Fatalf("answer %d %q, want 200 %d", r.StatusCode, r.body, 6*20<<10)
		}
		// The connection waits for the next request for IdleTimeout,
		// not for what is left of a body's window.
		time.Sleep(2 * window)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.StatusCode != 200 {
			t.Errorf("next request: %d %q", r.StatusCode, r.body)
		}
	})
	if n := ref.count(RefuseBodyTooSlow); n != 0 {
		t.Errorf("OnRefuse(%q) called %d times", RefuseBodyTooSlow, n)
	}
}

// holdConns opens n connections to ts and has a request served on each,
// so that the server has accepted them all; they stay open.
func holdConns(t *testing.T, ts *testServer, n int) []*rawConn {
	t.Helper()
	var cs []*rawConn
	for range n {
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.StatusCode != 200 {
			t.Fatalf("a connection under the cap was answered %d %q", r.StatusCode, r.body)
		}
		cs = append(cs, c)
	}
	return cs
}

// expectRefused asserts that a new connection is refused at accept, with
// a 503 that closes it, and that no handler sees a request sent on it.
func expectRefused(t *testing.T, ts *testServer, h *counter) {
	t.Helper()
	before := h.n.Load()
	c := ts.dial(t)
	r := c.read("GET")
	if r.StatusCode != http.StatusServiceUnavailable || !r.Close || !strings.HasPrefix(r.body, "503") {
		t.Errorf("a connection over the cap was answered %d %q (close %v), want a 503 that closes", r.StatusCode, r.body, r.Close)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	c.expectClosed()
	if n := h.n.Load() - before; n != 0 {
		t.Errorf("a connection over the cap was served %d requests", n)
	}
}

// expectAccepted asserts that a new connection is served, allowing the
// server a moment to see that one it held has closed.
func expectAccepted(t *testing.T, ts *testServer) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		r, err := c.tryRead("GET")
		if err == nil && r.StatusCode == 200 {
			return
		}
		if time.Since(start) > ioTimeout {
			t.Fatalf("no connection served after one under the cap closed: %v %d", err, r.StatusCode)
		}
	}
}

func TestMaxConns(t *testing.T) {
	tests := []struct {
		name              string
		total, perIP      int
		reason, notReason string
	}{
		{"total", 3, -1, RefuseConnsTotal, RefuseConnsPerIP},
		{"per IP", 10, 3, RefuseConnsPerIP, RefuseConnsTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ref refusals
			h := &counter{}
			ts := startServer(t, h, func(s *Server) {
				s.MaxConns = tt.total
				s.MaxConnsPerIP = tt.perIP
				s.OnRefuse = ref.add
			})
			cs := holdConns(t, ts, 3)
			expectRefused(t, ts, h)
			expectRefused(t, ts, h)
			if n := ref.count(tt.reason); n != 2 {
				t.Errorf("OnRefuse(%q) called %d times, want 2", tt.reason, n)
			}
			if n := ref.count(tt.notReason); n != 0 {
				t.Errorf("OnRefuse(%q) called %d times, want 0", tt.notReason, n)
			}
			// A connection that ends makes room for another.
			cs[0].Close()
			expectAccepted(t, ts)
			// The ones held are still served.
			cs[1].write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if r := cs[1].read("GET"); r.StatusCode != 200 {
				t.Errorf("a held connection was answered %d", r.StatusCode)
			}
		})
	}
}

// TestMaxConnsDefaults checks that a Server left at its defaults serves
// more connections from one address than a small cap would allow, and
// that a negative cap means none.
func TestMaxConnsDefaults(t *testing.T) {
	for _, perIP := range []int{0, -1} {
		ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.MaxConnsPerIP = perIP; s.MaxConns = perIP })
		holdConns(t, ts, 20)
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string // "" for none
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::"), Port: 2}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
		{pipeAddr{}, ""},
	}
	for _, tt := range tests {
		key, ok := clientKey(tt.addr)
		got := ""
		if ok {
			got = key.String()
		}
		if got != tt.want {
			t.Errorf("clientKey(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
