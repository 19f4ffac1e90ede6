//go:build unix

package h1

import (
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestNextRequestPipelinedDuringAnswer sends the next request while the
// last is still being served, and has the handler answer only once those
// bytes are queued on the server's socket: the wait that begins as the
// answer is sent is not told of bytes that came before it, unless the
// kernel happens to report the socket again (on Linux it often does, once
// the answer is acknowledged), and must then fall back to reading them.
// Either way the answer comes; without the fallback it could wait for the
// idle timeout (two minutes), past the client's deadline.
func TestNextRequestPipelinedDuringAnswer(t *testing.T) {
	var ts *testServer
	reading, release := make(chan struct{}), make(chan struct{})
	ts = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(reading)
			<-release
			waitQueued(t, ts.onlyConn(t).nc)
		}
		echo(w, r)
	}), func(s *Server) { s.WatchAfter = time.Hour })
	c := ts.dial(t)
	c.write("GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	c.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, reading, "the slow request")
	c.write("GET /pipelined HTTP/1.1\r\nHost: a\r\n\r\n")
	close(release)
	for _, want := range []string{"GET /slow ", "GET /pipelined "} {
		if r := c.read("GET"); r.body != want {
			t.Fatalf("answer %q, want %q", r.body, want)
		}
	}
	c.write("GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := c.read("GET"); r.body != "GET /after " {
		t.Fatalf("answer %q after the pipelined one", r.body)
	}
	// A wait that fell back found the pipelined request waiting (or, on
	// a loaded machine, the next one, come just after the fallback): the
	// next answers go without a wait, at most two of them gone since.
	sc := ts.onlyConn(t)
	if n := sc.await.skip.Load(); sc.await.misses.Load() > 0 && n < missSkip-2 {
		t.Errorf("after a wait that fell back with a request waiting, %d answers are to skip the wait, want %d or more", n, missSkip-2)
	}
}

// waitQueued waits until bytes are queued on nc's socket, unread.
func waitQueued(t *testing.T, nc net.Conn) {
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Error(err)
		return
	}
	var b [1]byte
	for queued := false; !queued; runtime.Gosched() {
		rc.Control(func(fd uintptr) {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			queued = err == nil && n == 1
		})
	}
}

// TestAwaitPending checks the look at the socket made when a wait falls
// back: bytes waiting on it are seen, and none is not mistaken for some.
func TestAwaitPending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	rc, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	a := &awaitState{rc: rc}
	if a.pending() {
		t.Error("pending with nothing sent")
	}
	client.Write([]byte("GET"))
	waitQueued(t, server)
	if !a.pending() {
		t.Error("not pending with bytes waiting")
	}
}
