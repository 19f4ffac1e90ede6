package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// TestExpectContinue covers Expect: 100-continue: the client is told to
// send its body only once the handler reads it, and never if the handler
// answers without reading it.
func TestExpectContinue(t *testing.T) {
	t.Run("sent on the first read", func(t *testing.T) {
		proceed := make(chan struct{})
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-proceed
			echo(w, r)
		}), nil)
		c := ts.dial(t)
		c.write("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		// Nothing may arrive while the handler has not read. The wait
		// can only let a server that sends 100 too early pass, never
		// fail a right one.
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if b, err := c.br.ReadByte(); err == nil {
			t.Fatalf("the server sent %q before the handler read the body", b)
		}
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		close(proceed)
		if r := c.read("POST"); r.StatusCode != 100 {
			t.Fatalf("answer %d, want 100 Continue", r.StatusCode)
		}
		c.write("hello")
		r := c.read("POST")
		if r.StatusCode != 200 || r.body != "POST /x hello" {
			t.Errorf("final answer %d %q, want 200 %q", r.StatusCode, r.body, "POST /x hello")
		}
		c.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /next " {
			t.Errorf("next answer %q", r.body)
		}
	})

	t.Run("net/http client", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(echo), nil)
		tr := &http.Transport{ExpectContinueTimeout: ioTimeout}
		defer tr.CloseIdleConnections()
		var got100 bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{Got100Continue: func() { got100 = true }})
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.url("/x"), strings.NewReader("hello"))
		req.Header.Set("Expect", "100-continue")
		resp, err := (&http.Client{Transport: tr, Timeout: ioTimeout}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !got100 || string(body) != "POST /x hello" {
			t.Errorf("100 Continue %v, body %q; want true, %q", got100, body, "POST /x hello")
		}
	})

	t.Run("answered without reading", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "no")
		}), nil)
		c := ts.dial(t)
		c.write("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		r, interim := c.readFinal("POST")
		if len(interim) != 0 {
			t.Errorf("interim answers %v before the final one, want none", interim)
		}
		if r.StatusCode != 403 || r.body != "no" || r.field("Connection") != "close" {
			t.Errorf("answer %d %q Connection %q, want 403 %q close", r.StatusCode, r.body, r.field("Connection"), "no")
		}
		c.expectCleanClose()
	})

	t.Run("no body", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(echo), nil)
		c := ts.dial(t)
		c.write("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
		r, interim := c.readFinal("POST")
		if len(interim) != 0 || r.StatusCode != 200 || r.body != "POST /x " {
			t.Errorf("interim %v, answer %d %q; want none, 200 %q", interim, r.StatusCode, r.body, "POST /x ")
		}
	})

	t.Run("HTTP/1.0", func(t *testing.T) {
		// RFC 9110 section 10.1.1: a server that receives a
		// 100-continue expectation in an HTTP/1.0 request MUST ignore
		// it. net/http serves such a request as if it had none.
		ts := startServer(t, http.HandlerFunc(echo), nil)
		c := ts.dial(t)
		c.write("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
		r, interim := c.readFinal("POST")
		if len(interim) != 0 || r.StatusCode != 200 || r.body != "POST /x hello" {
			t.Errorf("interim %v, answer %d %q; want none, 200 %q", interim, r.StatusCode, r.body, "POST /x hello")
		}
	})
}

// TestExpectContinueConcurrentBodyRead covers a handler that reads the body
// on another goroutine while it writes the answer (a proxy that streams the
// body to its backend does). The 100 Continue the first read sends must
// not race with the answer's head: run with -race, and the final answer
// must arrive whole.
func TestExpectContinueConcurrentBodyRead(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := make(chan struct{})
		go func() {
			defer close(read)
			io.Copy(io.Discard, r.Body)
		}()
		io.WriteString(w, "answer")
		w.(http.Flusher).Flush()
		<-read
	}), nil)
	for range 20 {
		c := ts.dial(t)
		c.write("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
		r, interim := c.readFinal("POST")
		if r.StatusCode != 200 || r.body != "answer" {
			t.Fatalf("answer %d %q (after %v), want 200 %q", r.StatusCode, r.body, interim, "answer")
		}
		c.Close()
	}
}

// TestUnreadBody covers a handler that answers without reading a large
// request body: the client must get the whole answer, and the connection
// is not reused, since the rest of the body would be read as the next
// request. The server must shut its side and drain what the client still
// sends rather than close on unread data: that resets the connection, and
// a reset can destroy the answer before the client reads it. The client's
// write of the whole body succeeding is what says the server drained it.
func TestUnreadBody(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		expect string
		status int
		body   string
		// announced says the answer's head carries Connection: close.
		// An answer that does not fit the server's buffer has its head
		// sent while the handler may still read the body, and then
		// does not announce the close that follows it.
		announced bool
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "", 404, "404 page not found\n", true},
		{"long answer", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(413)
			io.WriteString(w, strings.Repeat("n", 100000))
		}, "", 413, strings.Repeat("n", 100000), false},
		{"body partly read", func(w http.ResponseWriter, r *http.Request) {
			io.ReadFull(r.Body, make([]byte, 1000))
			w.WriteHeader(400)
			io.WriteString(w, "enough")
		}, "", 400, "enough", true},
		{"body closed", func(w http.ResponseWriter, r *http.Request) {
			r.Body.Close()
			io.WriteString(w, "closed")
		}, "", 200, "closed", true},
		{"expectation refused", nil, "teapot", 417, "417 Expectation Failed: only Expect: 100-continue is supported\n", true},
		{"100-continue never sent", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
		}, "100-continue", 403, "", true},
	}
	const size = 1 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.h, nil)
			c := ts.dial(t)
			head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n", size)
			if tt.expect != "" {
				head += "Expect: " + tt.expect + "\r\n"
			}
			c.write(head + "\r\n")
			written := make(chan error, 1)
			go func() {
				_, err := c.Write([]byte(strings.Repeat("b", size)))
				written <- err
			}()
			r := c.read("POST")
			if r.StatusCode != tt.status || r.body != tt.body {
				t.Errorf("answer %d %.40q (%d bytes), want %d %.40q (%d bytes)", r.StatusCode, r.body, len(r.body), tt.status, tt.body, len(tt.body))
			}
			if got, want := r.field("Connection") == "close", tt.announced; got != want {
				t.Errorf("Connection %q, want close: %v", r.field("Connection"), want)
			}
			if err := recv(t, written, "the body's write"); err != nil {
				t.Errorf("writing the body: %v; the server reset the connection instead of draining it", err)
			}
			c.expectCleanClose()
		})
	}
}

// TestBodyReadAfterHandler covers a body read on another goroutine after
// the handler has returned: the body is the connection's again, so the
// read fails, and the connection (whose body was not read) is closed.
func TestBodyReadAfterHandler(t *testing.T) {
	readNow := make(chan struct{})
	lateErr := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() {
			// The test says when: once the answer has arrived, which
			// is after the server took the body back.
			<-readNow
			_, err := r.Body.Read(make([]byte, 10))
			lateErr <- err
		}()
		io.WriteString(w, "ok")
	}), nil)
	c := ts.dial(t)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	if r := c.read("POST"); r.body != "ok" || r.field("Connection") != "close" {
		t.Errorf("answer %q Connection %q, want %q close", r.body, r.field("Connection"), "ok")
	}
	close(readNow)
	if err := recv(t, lateErr, "the late read"); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("reading the body after the handler returned: %v, want http.ErrBodyReadAfterClose", err)
	}
	c.expectClosed()
}
