package proxy

// Tests of the cap on a pool's connections (upstream.maxConns): requests
// over it wait for a connection to come back or close, up to their context
// and the backend timeout; every way a connection leaves the pool gives up
// its place; and the dial hook.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/internal/testio"
	"github.com/certbind/certbind/services/edge/state"
)

// capBackend is a plain TCP backend that answers each request with answer,
// and counts the connections it accepts.
type capBackend struct {
	addr  string
	conns atomic.Int64
}

func newCapBackend(t *testing.T, answer func(c net.Conn, req *http.Request)) *capBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &capBackend{addr: ln.Addr().String()}
	go testio.ServeEach(ln, func(c net.Conn) {
		b.conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			answer(c, req)
		}
	})
	return b
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// getRequest is a GET of / as the upstream sends it.
func getRequest(ctx context.Context) *outgoing {
	return &outgoing{ctx: ctx, method: http.MethodGet, target: "/", host: "b", head: &http.Request{Method: http.MethodGet}}
}

// fetchOK sends a GET on u and reads its answer whole, closing the body.
func fetchOK(ctx context.Context, u *upstream) error {
	resp, err := u.roundTrip(getRequest(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && string(body) != "ok" {
		err = errors.New("answer " + string(body))
	}
	return err
}

// counts returns the connections u holds open and idle, and the requests
// waiting.
func (u *upstream) counts() (open, idle, waiting int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.open, len(u.idle), len(u.queue)
}

// wantCounts fails the test unless u's counts come to the ones wanted
// (connections are given back just after their answers end).
func wantCounts(t *testing.T, u *upstream, open, idle, waiting int) {
	t.Helper()
	if !eventuallyTrue(func() bool {
		o, i, w := u.counts()
		return o == open && i == idle && w == waiting
	}) {
		o, i, w := u.counts()
		t.Errorf("the pool has %d connections open, %d idle and %d requests waiting; want %d, %d and %d", o, i, w, open, idle, waiting)
	}
}

// TestConnCap checks that a pool opens no more connections than its cap:
// a request over it waits, gets the first connection that comes back, and
// fails with errBackendBusy or its context's error when none does in time.
func TestConnCap(t *testing.T) {
	hold := make(chan struct{})
	var held atomic.Int64
	be := newCapBackend(t, func(c net.Conn, req *http.Request) {
		if req.Header.Get("X-Hold") != "" {
			held.Add(1)
			<-hold
		}
		io.WriteString(c, okAnswer)
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLongInternal)
	defer cancel()

	t.Run("waits for a connection to come back", func(t *testing.T) {
		u := newUpstream(be.addr, nil, waitLongInternal, 2, nil)
		defer u.close()
		held.Store(0)
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				o := getRequest(ctx)
				o.header = http.Header{"X-Hold": {"1"}}
				resp, err := u.roundTrip(o)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		// Two requests reach the backend; the third waits for one of
		// their connections.
		if !eventuallyTrue(func() bool { _, _, w := u.counts(); return held.Load() == 2 && w == 1 }) {
			o, _, w := u.counts()
			t.Fatalf("%d requests held by the backend, %d connections open, %d waiting; want 2, 2 and 1", held.Load(), o, w)
		}
		for range 3 {
			hold <- struct{}{}
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if n := be.conns.Load(); n != 2 {
			t.Errorf("the backend accepted %d connections, want 2", n)
		}
		wantCounts(t, u, 2, 2, 0)
	})

	for _, tc := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    error
	}{
		{"backend timeout", func() (context.Context, context.CancelFunc) { return ctx, func() {} }, 100 * time.Millisecond, errBackendBusy},
		{"context ends", func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 100*time.Millisecond) },
			waitLongInternal, context.DeadlineExceeded},
	} {
		t.Run("gives up: "+tc.name, func(t *testing.T) {
			u := newUpstream(be.addr, nil, tc.timeout, 1, nil)
			defer u.close()
			held.Store(0)
			first := make(chan error, 1)
			go func() {
				o := getRequest(ctx)
				o.header = http.Header{"X-Hold": {"1"}}
				resp, err := u.roundTrip(o)
				if err == nil {
					resp.Body.Close()
				}
				first <- err
			}()
			if !eventuallyTrue(func() bool { return held.Load() == 1 }) {
				t.Fatal("the first request never reached the backend")
			}
			rctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := fetchOK(rctx, u)
			if !errors.Is(err, tc.want) {
				t.Errorf("a request over the cap: %v, want %v", err, tc.want)
			}
			if took := time.Since(start); took < 80*time.Millisecond || took > 5*time.Second {
				t.Errorf("a request over the cap gave up after %v, want about 100ms", took)
			}
			wantCounts(t, u, 1, 0, 0)
			hold <- struct{}{}
			if err := <-first; err != nil {
				t.Error(err)
			}
			// The connection that came back serves the next one.
			if err := fetchOK(ctx, u); err != nil {
				t.Error(err)
			}
			wantCounts(t, u, 1, 1, 0)
		})
	}
}

// waitLongInternal bounds the waits of these tests that should end at once.
const waitLongInternal = 10 * time.Second

// TestConnCapPlaces checks that each way a connection leaves its pool gives
// up its place under the cap: a backend that closes after each answer, one
// that sends more than its answer, a failed request, an upgrade closed
// (twice), and a dial that fails.
func TestConnCapPlaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLongInternal)
	defer cancel()
	be := newCapBackend(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
			c.Close()
		case "/more":
			io.WriteString(c, okAnswer+"unasked")
		case "/fail":
			c.Close()
		case "/upgrade":
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		default:
			io.WriteString(c, okAnswer)
		}
	})
	u := newUpstream(be.addr, nil, 200*time.Millisecond, 1, nil)
	defer u.close()
	send := func(path string) (*http.Response, error) {
		o := getRequest(ctx)
		o.target = path
		if path == "/upgrade" {
			o.upgrade = "x"
		}
		return u.roundTrip(o)
	}
	for _, path := range []string{"/close", "/close", "/more", "/more", "/fail", "/fail"} {
		resp, err := send(path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err != nil && path != "/fail" {
			t.Fatalf("GET %s: %v", path, err)
		}
		wantCounts(t, u, 0, 0, 0)
	}
	resp, err := send("/upgrade")
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := resp.Body.(*upBody).hijack()
	wantCounts(t, u, 1, 0, 0)
	if err := fetchOK(ctx, u); !errors.Is(err, errBackendBusy) {
		t.Errorf("a request while the upgraded connection is open: %v, want %v", err, errBackendBusy)
	}
	conn.Close()
	conn.Close()
	wantCounts(t, u, 0, 0, 0)
	if err := fetchOK(ctx, u); err != nil {
		t.Error(err)
	}
	wantCounts(t, u, 1, 1, 0)

	// A dial that fails gives its place back.
	down := newUpstream("127.0.0.1:1", nil, 200*time.Millisecond, 1, nil)
	for range 2 {
		if err := fetchOK(ctx, down); err == nil || errors.Is(err, errBackendBusy) {
			t.Errorf("a request to a closed port: %v, want the dial's error", err)
		}
	}
	wantCounts(t, down, 0, 0, 0)
}

// TestHandlerConnSettings checks the handler's settings of its pools: the
// dial hook opens every connection, and the cap bounds them.
func TestHandlerConnSettings(t *testing.T) {
	hold := make(chan struct{})
	be := newCapBackend(t, func(c net.Conn, req *http.Request) {
		if req.URL.Path == "/hold" {
			<-hold
		}
		io.WriteString(c, okAnswer)
	})
	h := New(Config{State: state.NewStore(), BackendTimeout: 200 * time.Millisecond})
	defer h.Close()
	var (
		mu     sync.Mutex
		dialed []string
	)
	h.setBackendDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	})
	h.setMaxConnsPerBackend(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLongInternal)
	defer cancel()
	fetch := func(path string) error {
		req, _ := http.NewRequest(http.MethodGet, "http://"+be.addr+path, nil)
		resp, err := h.Fetch(ctx, "acme", "shop", req, FetchOptions{})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	first := make(chan error, 1)
	go func() { first <- fetch("/hold") }()
	if !eventuallyTrue(func() bool { return be.conns.Load() == 1 }) {
		t.Fatal("the first request never reached the backend")
	}
	if err := fetch("/x"); !errors.Is(err, errBackendBusy) {
		t.Errorf("a second request with a cap of 1: %v, want %v", err, errBackendBusy)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := fetch("/x"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || dialed[0] != "tcp "+be.addr {
		t.Errorf("the dial hook was called for %q, want once for %q", dialed, "tcp "+be.addr)
	}
}
