package h1

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// watching reports whether c's watch has started.
func (c *conn) watching() bool {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.r.watching != nil
}

// TestWatchTimer covers the watch's timer without a server: the watch
// starts WatchAfter after the request that is being served armed it, not
// after an earlier request did; and once nothing is armed the timer goes
// quiet, so an idle connection costs nothing.
func TestWatchTimer(t *testing.T) {
	const after = 200 * time.Millisecond
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(&Server{WatchAfter: after}, server)
	defer c.nc.Close()

	// A quick request: armed, then served well within WatchAfter.
	c.armWatch()
	time.Sleep(after / 4)
	c.stopWatch()
	// The next one, armed later. When the first one's WatchAfter is
	// up, this one's is not: no watch yet.
	second := time.Now()
	c.armWatch()
	time.Sleep(time.Until(second.Add(after / 2)))
	// (A sleep that overran WatchAfter on a busy machine tells nothing.)
	if c.watching() && time.Since(second) < after {
		t.Fatal("the watch started before the request being served had waited WatchAfter")
	}
	deadline := second.Add(after + time.Second)
	for !c.watching() {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not start after WatchAfter")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if waited := time.Since(second); waited < after {
		t.Errorf("the watch started %v after the request was armed, before WatchAfter (%v)", waited, after)
	}
	c.stopWatch()
	if c.watching() {
		t.Error("the watch is still on after stopWatch")
	}
	// A request served quickly leaves the timer on; with nothing armed
	// when it fires, it goes quiet and starts no watch.
	c.armWatch()
	c.stopWatch()
	if !c.timerOn.Load() {
		t.Fatal("arming did not set the timer")
	}
	deadline = time.Now().Add(after + time.Second)
	for c.timerOn.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the watch timer is still on with nothing armed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c.watching() {
		t.Error("a watch started with nothing armed")
	}
}

// TestWatchOutlivesDeadline covers a request without a body that is
// served for longer than the deadline left from the wait for it (serve
// does not clear that deadline, to save a timer update per request): the
// watch must take the deadline's passing for nothing, not for the client
// going away, and the connection must go on, with its idle timeout.
func TestWatchOutlivesDeadline(t *testing.T) {
	const serveFor = 600 * time.Millisecond
	cancelled := make(chan error, 2)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(serveFor):
		}
		io.WriteString(w, "served")
	}), func(s *Server) {
		s.ReadHeaderTimeout = 100 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
		s.WatchAfter = 10 * time.Millisecond
	})
	c := ts.dial(t)
	for i := range 2 {
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.StatusCode != 200 || r.body != "served" {
			t.Fatalf("request %d: %d %q, want 200 served", i+1, r.StatusCode, r.body)
		}
		select {
		case err := <-cancelled:
			t.Fatalf("request %d: the context ended (%v) while the client waited", i+1, err)
		default:
		}
	}
	within(t, 5*time.Second, "the idle close", c.expectCleanClose)
}
