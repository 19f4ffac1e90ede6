package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHijack covers a handler that takes the connection over: it reads
// what the client sent after the request (some of it already buffered by
// the server), writes its own bytes, keeps the connection after it
// returns, and the server neither writes to it nor closes it.
func TestHijack(t *testing.T) {
	returned := make(chan struct{})
	handlerErrs := make(chan error, 4)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		nc, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			handlerErrs <- err
			return
		}
		if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, http.ErrHijacked) {
			handlerErrs <- fmt.Errorf("second Hijack: %v, want http.ErrHijacked", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
			handlerErrs <- fmt.Errorf("Write after Hijack: %v, want http.ErrHijacked", err)
		}
		w.WriteHeader(500) // ignored
		w.(http.Flusher).Flush()
		line, err := rw.ReadString('\n')
		if err != nil {
			handlerErrs <- err
			return
		}
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\npong " + line)
		rw.Flush()
		go func() {
			// The connection outlives the handler.
			defer nc.Close()
			line, err := rw.ReadString('\n')
			if err != nil {
				handlerErrs <- err
				return
			}
			rw.WriteString("late " + line)
			rw.Flush()
		}()
	}), nil)
	c := ts.dial(t)
	// "ping" comes in the request's write: the server has it buffered.
	c.write("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nping\n")
	r, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil || r.StatusCode != 101 {
		t.Fatalf("hijacker's answer %v (%v), want 101", r, err)
	}
	if line, err := c.br.ReadString('\n'); err != nil || line != "pong ping\n" {
		t.Fatalf("hijacker's line %q (%v), want %q", line, err, "pong ping\n")
	}
	recv(t, returned, "the handler's return")
	// Shutdown waits for the connections the server serves: that it
	// returns says the server has let this one go.
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.write("after\n")
	if line, err := c.br.ReadString('\n'); err != nil || line != "late after\n" {
		t.Errorf("hijacker's late line %q (%v), want %q", line, err, "late after\n")
	}
	c.expectCleanClose()
	close(handlerErrs)
	for err := range handlerErrs {
		t.Error(err)
	}
}

// TestHijackAfterHead covers a Hijack once the head is on the wire: the
// connection is no longer a clean byte stream to hand over, and Hijack
// refuses.
func TestHijackAfterHead(t *testing.T) {
	errs := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		_, _, err := w.(http.Hijacker).Hijack()
		errs <- err
		io.WriteString(w, "b")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := c.read("GET"); r.body != "ab" {
		t.Errorf("body %q, want %q", r.body, "ab")
	}
	if err := recv(t, errs, "the handler"); err == nil {
		t.Error("Hijack after the head was sent succeeded")
	}
}

// TestHijackedConnectionIsTheHijackers covers a hijacking handler that
// keeps serving the connection itself until it ends (a WebSocket proxy
// does): the package says hijacked connections are the hijacker's, as
// net/http has them, so Shutdown must not wait for them and Close must not
// close them.
func TestHijackedConnectionIsTheHijackers(t *testing.T) {
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			hijacked := make(chan struct{})
			release := make(chan struct{})
			done := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				nc, rw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					done <- err
					return
				}
				defer nc.Close()
				close(hijacked)
				select {
				case <-release:
				case <-time.After(ioTimeout):
				}
				rw.WriteString("still mine\n")
				done <- rw.Flush()
			}), nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			recv(t, hijacked, "the hijack")
			if stop == "Shutdown" {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := ts.Shutdown(ctx)
				cancel()
				if err != nil {
					t.Errorf("Shutdown with a hijacked connection: %v, want nil", err)
				}
			} else {
				ts.Close()
			}
			close(release)
			if err := recv(t, done, "the hijacker"); err != nil {
				t.Errorf("the hijacker's write after %s: %v", stop, err)
			}
			if line, err := c.br.ReadString('\n'); err != nil || line != "still mine\n" {
				t.Errorf("the hijacker's line after %s: %q (%v), want %q", stop, line, err, "still mine\n")
			}
		})
	}
}

// TestWatch covers the cancellation of a request's context when the client
// goes away while the handler waits (for a slow backend, say), once its
// body has been read.
func TestWatch(t *testing.T) {
	tests := []struct {
		name string
		req  string
	}{
		{"no body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"body read", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked body read", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			ended := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				close(started)
				select {
				case <-r.Context().Done():
					ended <- r.Context().Err()
				case <-time.After(5 * time.Second):
					ended <- errors.New("the context did not end within 5s of the client's close")
				}
			}), func(s *Server) { s.WatchAfter = 10 * time.Millisecond })
			c := ts.dial(t)
			c.write(tt.req)
			recv(t, started, "the handler")
			c.Close()
			if err := recv(t, ended, "the handler's end"); !errors.Is(err, context.Canceled) {
				t.Errorf("the context ended with %v, want context.Canceled", err)
			}
		})
	}
}

// TestWatchKeepsNextRequest covers a client that sends its next request
// while the handler of the previous one waits: the watch reads its first
// byte, which must be neither lost nor taken for the client going away.
func TestWatchKeepsNextRequest(t *testing.T) {
	tests := []struct {
		name  string
		first string
		next  []string // written one after the other, with a pause
	}{
		{"no body", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"}},
		{"body read", "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", []string{"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"}},
		{"next request in pieces", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", []string{"G", "ET /next HTTP/1.1\r\nHo", "st: a\r\n\r\n"}},
		{"next request with a body", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", []string{"POST /next HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			proceed := make(chan struct{})
			ctxErr := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/slow" {
					echo(w, r)
					return
				}
				io.ReadAll(r.Body)
				close(started)
				select {
				case <-proceed:
				case <-r.Context().Done():
				case <-time.After(ioTimeout):
				}
				ctxErr <- r.Context().Err()
				io.WriteString(w, "slow")
			}), func(s *Server) { s.WatchAfter = 10 * time.Millisecond })
			c := ts.dial(t)
			c.write(tt.first)
			recv(t, started, "the handler")
			// The pauses give the watch the time to start and read; a
			// slower machine merely tests less.
			time.Sleep(100 * time.Millisecond)
			for _, p := range tt.next {
				c.write(p)
				time.Sleep(100 * time.Millisecond)
			}
			close(proceed)
			if err := recv(t, ctxErr, "the handler"); err != nil {
				t.Errorf("the slow handler's context ended: %v", err)
			}
			if r := c.read("GET"); r.body != "slow" {
				t.Errorf("first answer %q, want %q", r.body, "slow")
			}
			method, want := "GET", "GET /next "
			if strings.HasPrefix(tt.next[0], "POST") {
				method, want = "POST", "POST /next xyz"
			}
			if r := c.read(method); r.StatusCode != 200 || r.body != want {
				t.Errorf("next answer %d %q, want 200 %q", r.StatusCode, r.body, want)
			}
		})
	}
}

// TestWatchByteReachesHijacker covers a handler that hijacks after the
// watch has read a byte: the byte is part of what the hijacker reads.
func TestWatchByteReachesHijacker(t *testing.T) {
	started := make(chan struct{})
	proceed := make(chan struct{})
	lines := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-proceed
		nc, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			lines <- err.Error()
			return
		}
		defer nc.Close()
		line, err := rw.ReadString('\n')
		if err != nil {
			line = err.Error()
		}
		lines <- line
	}), func(s *Server) { s.WatchAfter = 10 * time.Millisecond })
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, started, "the handler")
	time.Sleep(100 * time.Millisecond)
	c.write("Xmas\n")
	time.Sleep(100 * time.Millisecond)
	close(proceed)
	if line := recv(t, lines, "the hijacker"); line != "Xmas\n" {
		t.Errorf("the hijacker read %q, want %q", line, "Xmas\n")
	}
}
