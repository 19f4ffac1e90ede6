package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestShutdown covers a graceful shutdown: an idle connection is closed,
// one with a request in flight gets its whole answer (announcing the
// close) and is closed after it, Shutdown returns once both are gone, and
// Serve returns http.ErrServerClosed.
func TestShutdown(t *testing.T) {
	started := make(chan struct{})
	proceed := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-proceed
			io.WriteString(w, strings.Repeat("s", 5000))
			return
		}
		echo(w, r)
	}), nil)

	idle := ts.dial(t)
	idle.write("GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := idle.read("GET"); r.body != "GET /idle " {
		t.Fatalf("answer %q", r.body)
	}
	busy := ts.dial(t)
	busy.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, started, "the slow handler")

	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.Shutdown(context.Background()) }()
	idle.expectCleanClose()
	// Shutdown must wait for the handler; the wait can only let a
	// wrong server pass, never fail a right one.
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	if nc, err := net.Dial("tcp", ts.addr); err == nil {
		nc.Close()
		t.Error("the listener still accepts after Shutdown")
	}
	close(proceed)
	r := busy.read("GET")
	if r.body != strings.Repeat("s", 5000) || r.field("Connection") != "close" {
		t.Errorf("in-flight answer of %d bytes, Connection %q; want 5000 bytes, close", len(r.body), r.field("Connection"))
	}
	busy.expectCleanClose()
	if err := recv(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := ts.Serve(mustListen(t)); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want http.ErrServerClosed", err)
	}
}

// TestShutdownFlushedAnswer covers a request in flight whose head was sent
// before Shutdown: the head could not announce the close, but the
// connection is closed after the answer all the same.
func TestShutdownFlushedAnswer(t *testing.T) {
	flushed := make(chan struct{})
	proceed := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		close(flushed)
		<-proceed
		io.WriteString(w, "b")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, flushed, "the flush")
	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(proceed)
	if r := c.read("GET"); r.body != "ab" {
		t.Errorf("body %q, want %q", r.body, "ab")
	}
	c.expectCleanClose()
	if err := recv(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownTimeout covers a Shutdown whose context ends before a
// handler does: it returns the context's error, and the request is still
// answered.
func TestShutdownTimeout(t *testing.T) {
	proceed := make(chan struct{})
	started := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-proceed
		io.WriteString(w, "late")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, started, "the handler")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	close(proceed)
	if r := c.read("GET"); r.body != "late" || r.field("Connection") != "close" {
		t.Errorf("answer %q Connection %q, want %q close", r.body, r.field("Connection"), "late")
	}
}

// TestShutdownSilentConnection covers a connection that has not sent a
// byte (a browser opens some ahead of need): it is idle, and Shutdown
// closes it rather than wait for its header's deadline.
func TestShutdownSilentConnection(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.ReadHeaderTimeout = time.Minute })
	c := ts.dial(t)
	// Let the server accept the connection before it shuts down (were
	// it still in the listener's queue, closing the listener would
	// reset it, and the test would pass without testing anything).
	time.Sleep(50 * time.Millisecond)
	within(t, 5*time.Second, "Shutdown", func() {
		if err := ts.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	c.expectClosed()
}

// TestClose covers Close: every connection is closed at once, idle or
// not, and a handler that waits is told by its context.
func TestClose(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			echo(w, r)
			return
		}
		close(started)
		select {
		case <-r.Context().Done():
			ended <- nil
		case <-time.After(ioTimeout):
			ended <- errors.New("the context did not end")
		}
		io.WriteString(w, "too late")
	}), func(s *Server) { s.WatchAfter = 10 * time.Millisecond })
	idle := ts.dial(t)
	idle.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idle.read("GET")
	busy := ts.dial(t)
	busy.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, started, "the handler")
	silent := ts.dial(t)
	time.Sleep(50 * time.Millisecond)

	if err := ts.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	idle.expectClosed()
	busy.expectClosed()
	silent.expectClosed()
	if err := recv(t, ended, "the handler"); err != nil {
		t.Error(err)
	}
	if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
}

// TestShutdownBeforeServe covers a Serve called on a server already shut
// down: it closes the listener and returns at once.
func TestShutdownBeforeServe(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(echo)}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := mustListen(t)
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v, want http.ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("the listener is still open")
	}
}

func mustListen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestPanic covers a handler that panics: the connection is closed without
// an answer; http.ErrAbortHandler is the quiet way to do it, any other
// panic is logged; and the server goes on serving.
func TestPanic(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		flushed bool
		wantLog string // "" for no log
	}{
		{"ErrAbortHandler", http.ErrAbortHandler, false, ""},
		{"ErrAbortHandler after a flush", http.ErrAbortHandler, true, ""},
		{"string", "boom", false, "boom"},
		{"error", errors.New("kaboom"), false, "kaboom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ok" {
					echo(w, r)
					return
				}
				io.WriteString(w, "partial")
				if tt.flushed {
					w.(http.Flusher).Flush()
				}
				panic(tt.value)
			}), nil)
			c := ts.dial(t)
			c.write("GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
			if tt.flushed {
				// The head went out; the body must end unfinished.
				if _, err := c.tryRead("GET"); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("reading the flushed answer: %v, want io.ErrUnexpectedEOF", err)
				}
			}
			c.expectClosed()
			logs := ts.logs.String()
			if tt.wantLog == "" {
				if logs != "" {
					t.Errorf("log %q, want none", logs)
				}
			} else if !strings.Contains(logs, "handler panicked") || !strings.Contains(logs, tt.wantLog) || !strings.Contains(logs, "server_test.go") {
				t.Errorf("log %q, want the panic %q with its stack", logs, tt.wantLog)
			}
			other := ts.dial(t)
			other.write("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
			if r := other.read("GET"); r.body != "GET /ok " {
				t.Errorf("answer after the panic %q", r.body)
			}
		})
	}
}

// TestReadHeaderTimeout covers a client too slow to send its header: it is
// disconnected, without an answer, whether on its first request or a later
// one; and a later request's time counts from its first byte, not from the
// end of the previous answer.
func TestReadHeaderTimeout(t *testing.T) {
	adjust := func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = ioTimeout
	}
	t.Run("first request", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(echo), adjust)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n")
		within(t, 5*time.Second, "the disconnection", c.expectClosed)
	})
	t.Run("later request", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(echo), adjust)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		c.read("GET")
		c.write("GET / HTTP/1.1\r\nHost: a\r\n")
		within(t, 5*time.Second, "the disconnection", c.expectClosed)
	})
	t.Run("cut in a line", func(t *testing.T) {
		// net/http's parser takes the part of a line before the
		// deadline for a whole line, and it is no valid field line: the
		// answer is a 400, as net/http's server gives.
		ts := startServer(t, http.HandlerFunc(echo), adjust)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHo")
		var r wireResponse
		within(t, 5*time.Second, "the answer", func() { r, _ = c.tryRead("GET") })
		if r.Response == nil || r.StatusCode != 400 || r.field("Connection") != "close" {
			t.Errorf("answer %+v, want a 400 that closes", r.Response)
		}
		c.expectClosed()
	})
	t.Run("counted from the first byte", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(echo), adjust)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		c.read("GET")
		// Idle for longer than ReadHeaderTimeout, well within the
		// IdleTimeout, then a whole request at once.
		time.Sleep(600 * time.Millisecond)
		c.write("GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /late " {
			t.Errorf("answer %q, want %q", r.body, "GET /late ")
		}
	})
	t.Run("body not bounded", func(t *testing.T) {
		// The deadline is the header's: a body may take longer.
		ts := startServer(t, http.HandlerFunc(echo), adjust)
		c := ts.dial(t)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab")
		time.Sleep(600 * time.Millisecond)
		c.write("cd")
		if r := c.read("POST"); r.body != "POST / abcd" {
			t.Errorf("answer %q, want %q", r.body, "POST / abcd")
		}
	})
}

// TestIdleTimeout covers a kept-alive connection on which no request comes:
// it is closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := c.read("GET"); r.field("Connection") != "" {
		t.Errorf("Connection %q, want none", r.field("Connection"))
	}
	within(t, 5*time.Second, "the idle close", c.expectCleanClose)
}

// TestFirstRequestWait covers the wait for a connection's first request,
// which counts against ReadHeaderTimeout, as in net/http: a connection on
// which nothing comes is closed after ReadHeaderTimeout, not IdleTimeout.
// (The Server's documentation says IdleTimeout bounds this wait; the code
// says, and does, otherwise.)
func TestFirstRequestWait(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), func(s *Server) {
		s.ReadHeaderTimeout = 300 * time.Millisecond
		s.IdleTimeout = time.Minute
	})
	c := ts.dial(t)
	within(t, 5*time.Second, "the close of the silent connection", c.expectCleanClose)
}

// TestServeReturnsListenerError covers a listener that fails for good:
// Serve returns its error.
func TestServeReturnsListenerError(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(echo)}
	want := errors.New("listener broken")
	if err := s.Serve(failingListener{want}); !errors.Is(err, want) {
		t.Errorf("Serve: %v, want %v", err, want)
	}
	// A transient failure (out of descriptors) is retried.
	l := &flakyListener{Listener: mustListen(t), fails: 2}
	go s.Serve(l)
	defer s.Close()
	c := dialAddr(t, l.Addr().String())
	c.write("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := c.read("GET"); r.body != "GET /x " {
		t.Errorf("answer %q after transient Accept errors", r.body)
	}
}

type failingListener struct{ err error }

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }

func (l failingListener) Close() error { return nil }

func (l failingListener) Addr() net.Addr { return &net.TCPAddr{} }

type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.fails > 0
	l.fails--
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}
