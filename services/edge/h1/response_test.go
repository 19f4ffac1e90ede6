package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFraming covers how the body of an answer is delimited: by the
// handler's Content-Length, by one computed for a short body, chunked for
// a long one or a flushed one, and by the close for HTTP/1.0.
func TestFraming(t *testing.T) {
	writes := func(n, size int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for range n {
				w.Write([]byte(strings.Repeat("w", size)))
			}
		}
	}
	tests := []struct {
		name       string
		h          http.HandlerFunc
		req        string // default GET / HTTP/1.1
		status     int    // default 200
		wantCL     string // the Content-Length field, "" for none
		wantTE     string // the Transfer-Encoding field, "" for none
		wantBody   string
		wantClosed bool
	}{
		{name: "short body gets a Content-Length", h: writes(1, 5), wantCL: "5", wantBody: "wwwww"},
		{name: "no body gets Content-Length 0", h: func(http.ResponseWriter, *http.Request) {}, wantCL: "0"},
		{name: "status only", h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, status: 404, wantCL: "0"},
		{name: "2048 bytes in one write", h: writes(1, 2048), wantCL: "2048", wantBody: strings.Repeat("w", 2048)},
		{name: "2048 bytes in many writes", h: writes(64, 32), wantCL: "2048", wantBody: strings.Repeat("w", 2048)},
		{name: "2049 bytes are chunked", h: writes(1, 2049), wantTE: "chunked", wantBody: strings.Repeat("w", 2049)},
		{name: "long body in small writes is chunked", h: writes(100, 30), wantTE: "chunked", wantBody: strings.Repeat("w", 3000)},
		{name: "long body in one write is chunked", h: writes(1, 100000), wantTE: "chunked", wantBody: strings.Repeat("w", 100000)},
		{name: "handler's Content-Length", wantCL: "5", wantBody: "hello", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}},
		{name: "handler's Content-Length of a long body", wantCL: "100000", wantBody: strings.Repeat("w", 100000), h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			writes(10, 10000)(w, r)
		}},
		{name: "handler's Content-Length with a flush", wantCL: "10", wantBody: "helloworld", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
			io.WriteString(w, "world")
		}},
		{name: "handler's Content-Length 0", wantCL: "0", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "0")
		}},
		{name: "invalid handler Content-Length is replaced", wantCL: "5", wantBody: "hello", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "five")
			io.WriteString(w, "hello")
		}},
		{name: "two handler Content-Length are replaced", wantCL: "5", wantBody: "hello", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Length"] = []string{"5", "6"}
			io.WriteString(w, "hello")
		}},
		{name: "handler's Transfer-Encoding is the server's to set", wantCL: "5", wantBody: "hello", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "gzip")
			io.WriteString(w, "hello")
		}},
		{name: "a write beyond the Content-Length is refused", wantCL: "5", wantBody: "hello", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			if n, err := io.WriteString(w, "hello, world"); n != 0 || !errors.Is(err, http.ErrContentLength) {
				t.Errorf("writing beyond the Content-Length: %d, %v; want 0, http.ErrContentLength", n, err)
			}
			io.WriteString(w, "hello")
		}},
		{name: "flushed empty body is chunked", wantTE: "chunked", h: func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
		}},
		{name: "flush through a ResponseController", wantTE: "chunked", wantBody: "ab", h: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
			io.WriteString(w, "b")
		}},
		{name: "handler's Connection: close is honoured", wantCL: "2", wantBody: "ok", wantClosed: true, h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "ok")
		}},
		{name: "HTTP/1.0 short body", req: "GET / HTTP/1.0\r\n\r\n", h: writes(1, 5), wantCL: "5", wantBody: "wwwww", wantClosed: true},
		{name: "HTTP/1.0 long body is delimited by the close", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			h: writes(1, 5000), wantBody: strings.Repeat("w", 5000), wantClosed: true},
		{name: "HTTP/1.0 flushed body is delimited by the close", req: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			h: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				io.WriteString(w, "b")
			}, wantBody: "ab", wantClosed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.h, nil)
			c := ts.dial(t)
			req := tt.req
			if req == "" {
				req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
			}
			c.write(req)
			r := c.read("GET")
			status := tt.status
			if status == 0 {
				status = 200
			}
			if r.StatusCode != status {
				t.Errorf("status %d, want %d", r.StatusCode, status)
			}
			if got := r.field("Content-Length"); got != tt.wantCL {
				t.Errorf("Content-Length %q, want %q", got, tt.wantCL)
			}
			if got := r.field("Transfer-Encoding"); got != tt.wantTE {
				t.Errorf("Transfer-Encoding %q, want %q", got, tt.wantTE)
			}
			if r.body != tt.wantBody {
				t.Errorf("body %.60q (%d bytes), want %.60q (%d bytes)", r.body, len(r.body), tt.wantBody, len(tt.wantBody))
			}
			if tt.wantClosed {
				if r.field("Connection") != "close" {
					t.Errorf("Connection %q, want close", r.field("Connection"))
				}
				c.expectClosed()
				return
			}
			// The connection is kept, and the next request on it is
			// read where this answer's body ended.
			c.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			if next := c.read("GET"); next.StatusCode != status {
				t.Errorf("next answer on the connection: %d, want %d", next.StatusCode, status)
			}
		})
	}
}

// TestShortBody covers a handler that writes less than its Content-Length:
// only closing the connection tells the client that the body is cut off.
func TestShortBody(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush=%v", flush), func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, "hello")
				if flush {
					w.(http.Flusher).Flush()
				}
			}), nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			r, err := c.tryRead("GET")
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the short body: %v, want io.ErrUnexpectedEOF", err)
			}
			if r.Response == nil || r.field("Content-Length") != "10" || r.body != "hello" {
				t.Fatalf("answer %+v", r)
			}
			c.expectClosed()
		})
	}
}

// TestHead covers answers to HEAD: the header of the GET answer, but no
// body bytes on the wire whatever the handler writes, so that the next
// request on the connection is read and answered right.
func TestHead(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		wantCL string
	}{
		// A HEAD answer may leave out the Content-Length (RFC 9110
		// section 9.3.2); net/http sends the length of what the handler
		// wrote, this server sends none unless the handler sets it.
		{"short body", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }, ""},
		{"long body", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 10000)) }, ""},
		{"flushed body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
			io.WriteString(w, "world")
		}, ""},
		{"handler's Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, "5"},
		{"handler's Content-Length without a write", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1234")
		}, "1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeErrs := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "HEAD" {
					tt.h(w, r)
					_, err := io.WriteString(w, "")
					writeErrs <- err
					return
				}
				io.WriteString(w, "next")
			}), nil)
			c := ts.dial(t)
			c.write("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
			r := c.read("HEAD")
			if r.StatusCode != 200 || r.field("Content-Length") != tt.wantCL || r.field("Transfer-Encoding") != "" || r.field("Connection") != "" {
				t.Errorf("answer %d Content-Length %q Transfer-Encoding %q Connection %q, want 200 %q, none, none",
					r.StatusCode, r.field("Content-Length"), r.field("Transfer-Encoding"), r.field("Connection"), tt.wantCL)
			}
			if err := recv(t, writeErrs, "the handler"); err != nil {
				t.Errorf("a write to a HEAD answer: %v, want none", err)
			}
			// Nothing may follow the head on the wire.
			c.expectOpen()
			c.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			if next := c.read("GET"); next.StatusCode != 200 || next.body != "next" {
				t.Errorf("next answer %d %q, want 200 %q", next.StatusCode, next.body, "next")
			}
		})
	}
}

// TestNoBodyStatus covers 204 and 304, which have no body: a handler's
// write is refused with http.ErrBodyNotAllowed and nothing follows the
// head; a 204 has no Content-Length, a 304 keeps the handler's (it is the
// length of the resource).
func TestNoBodyStatus(t *testing.T) {
	tests := []struct {
		status    int
		handlerCL string
		wantCL    string
	}{
		{204, "", ""},
		{204, "5", ""},
		{304, "", ""},
		{304, "5", "5"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d Content-Length %q", tt.status, tt.handlerCL), func(t *testing.T) {
			writeErrs := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/next" {
					io.WriteString(w, "next")
					return
				}
				if tt.handlerCL != "" {
					w.Header().Set("Content-Length", tt.handlerCL)
				}
				w.WriteHeader(tt.status)
				_, err := io.WriteString(w, "hello")
				writeErrs <- err
				w.(http.Flusher).Flush()
			}), nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			r := c.read("GET")
			if r.StatusCode != tt.status || r.field("Content-Length") != tt.wantCL || r.field("Transfer-Encoding") != "" || r.body != "" {
				t.Errorf("answer %d Content-Length %q Transfer-Encoding %q body %q, want %d %q, none, none",
					r.StatusCode, r.field("Content-Length"), r.field("Transfer-Encoding"), r.body, tt.status, tt.wantCL)
			}
			if err := recv(t, writeErrs, "the handler"); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("writing a body to a %d: %v, want http.ErrBodyNotAllowed", tt.status, err)
			}
			c.expectOpen()
			c.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			if next := c.read("GET"); next.body != "next" {
				t.Errorf("next answer %q, want %q", next.body, "next")
			}
		})
	}
}

// TestStatusLine covers the status line of codes with and without a
// reason phrase, and the panic of an invalid code.
func TestStatusLine(t *testing.T) {
	for _, tt := range []struct {
		code int
		want string
	}{
		{200, "HTTP/1.1 200 OK"},
		{418, "HTTP/1.1 418 I'm a teapot"},
		{599, "HTTP/1.1 599 status code 599"},
		{999, "HTTP/1.1 999 status code 999"},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.code) }), nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			line, err := c.br.ReadString('\n')
			if err != nil || line != tt.want+"\r\n" {
				t.Errorf("status line %q (%v), want %q", line, err, tt.want)
			}
		})
	}
	t.Run("invalid code", func(t *testing.T) {
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) }), nil)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		c.expectClosed()
		if logs := ts.logs.String(); !strings.Contains(logs, "handler panicked") || !strings.Contains(logs, "invalid WriteHeader code 42") {
			t.Errorf("log %q, want the panic of WriteHeader(42)", logs)
		}
	})
}

// TestResponseHeaderSafety covers the header fields a handler sets from
// what it was sent (a proxy does): a line break in a value must not start
// a field of its own, and a field with an invalid name is left out.
func TestResponseHeaderSafety(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Value"] = []string{"a\r\nX-Forged: 1"}
		w.Header()["X-Lf"] = []string{"b\nX-Forged-Lf: 1"}
		w.Header()["Bad Name"] = []string{"c"}
		w.Header()["X-Split\r\nX-Forged-Name"] = []string{"d"}
		io.WriteString(w, "ok")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	r := c.read("GET")
	if got := r.field("X-Value"); got != "a  X-Forged: 1" {
		t.Errorf("X-Value %q, want %q", got, "a  X-Forged: 1")
	}
	if got := r.field("X-Lf"); got != "b X-Forged-Lf: 1" {
		t.Errorf("X-Lf %q, want %q", got, "b X-Forged-Lf: 1")
	}
	for _, name := range []string{"X-Forged", "X-Forged-Lf", "X-Forged-Name", "Bad Name", "Bad-Name"} {
		if _, ok := r.wire[name]; ok {
			t.Errorf("the answer has a field %q", name)
		}
	}
	if r.body != "ok" {
		t.Errorf("body %q, want %q", r.body, "ok")
	}
}

// TestFlush covers a flush in the middle of an answer: what was written
// before it reaches the client while the handler is still running.
func TestFlush(t *testing.T) {
	proceed := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-proceed:
		case <-time.After(ioTimeout):
			t.Error("the client never got the first part")
		}
		io.WriteString(w, "second")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("first part %q (%v), want %q", first, err, "first;")
	}
	close(proceed)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Errorf("rest %q (%v), want %q", rest, err, "second")
	}
}

// TestEmptyWriteAfterFlush covers a write of no bytes once the body is
// being sent chunked. It must change nothing: written as a chunk, a chunk
// of size 0 is the end of the body, and what follows it would be read by
// the client as the next response.
func TestEmptyWriteAfterFlush(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, "next")
			return
		}
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		if n, err := w.Write(nil); n != 0 || err != nil {
			t.Errorf("Write(nil): %d, %v; want 0, nil", n, err)
		}
		w.Write([]byte{})
		io.WriteString(w, "b")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if r := c.read("GET"); r.body != "ab" {
		t.Errorf("body %q, want %q", r.body, "ab")
	}
	c.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	if r, err := c.tryRead("GET"); err != nil || r.body != "next" {
		t.Errorf("next answer %q (%v), want %q", r.body, err, "next")
	}
}

// TestTrailers covers the trailers of an answer, declared in its Trailer
// field or set with http.TrailerPrefix: they are sent after a chunked body
// and not in the head.
func TestTrailers(t *testing.T) {
	tests := []struct {
		name         string
		h            http.HandlerFunc
		wantBody     string
		wantTrailer  http.Header
		wantDeclared string // the Trailer field of the head
	}{
		{
			name: "declared, flushed",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-A, x-b")
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				io.WriteString(w, "b")
				w.Header().Set("X-A", "1")
				w.Header().Set("X-B", "2")
			},
			wantBody:     "ab",
			wantTrailer:  http.Header{"X-A": {"1"}, "X-B": {"2"}},
			wantDeclared: "X-A, x-b",
		},
		{
			// A short body would get a Content-Length, and there are
			// no trailers without chunks.
			name: "declared, short body",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Trailer", "X-A")
				w.Header().Add("Trailer", "X-B")
				io.WriteString(w, "short")
				w.Header().Set("X-A", "1")
				w.Header().Add("X-B", "2")
				w.Header().Add("X-B", "3")
			},
			wantBody:     "short",
			wantTrailer:  http.Header{"X-A": {"1"}, "X-B": {"2", "3"}},
			wantDeclared: "X-A,X-B",
		},
		{
			// A declared trailer's value set before the head is sent
			// still goes in the trailer only.
			name: "declared, set early",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-A")
				w.Header().Set("X-A", "early")
				io.WriteString(w, "body")
			},
			wantBody:     "body",
			wantTrailer:  http.Header{"X-A": {"early"}},
			wantDeclared: "X-A",
		},
		{
			name: "declared, no body",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-A")
				w.Header().Set("X-A", "1")
			},
			wantTrailer:  http.Header{"X-A": {"1"}},
			wantDeclared: "X-A",
		},
		{
			name: "TrailerPrefix, flushed",
			h: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				w.Header().Set(http.TrailerPrefix+"X-P", "p")
			},
			wantBody:    "a",
			wantTrailer: http.Header{"X-P": {"p"}},
		},
		{
			name: "TrailerPrefix and declared",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-A")
				io.WriteString(w, "a")
				w.Header().Set("X-A", "1")
				w.Header().Set(http.TrailerPrefix+"X-P", "p")
			},
			wantBody:     "a",
			wantTrailer:  http.Header{"X-A": {"1"}, "X-P": {"p"}},
			wantDeclared: "X-A",
		},
		{
			// net/http chunks this answer, since it sees a
			// TrailerPrefix key when it writes the head, and sends the
			// trailer; a Content-Length here would lose it.
			name: "TrailerPrefix, short body",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(http.TrailerPrefix+"X-P", "p")
				io.WriteString(w, "short")
			},
			wantBody:    "short",
			wantTrailer: http.Header{"X-P": {"p"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.h, nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			r := c.read("GET")
			if r.body != tt.wantBody {
				t.Errorf("body %q, want %q", r.body, tt.wantBody)
			}
			if r.field("Transfer-Encoding") != "chunked" || r.field("Content-Length") != "" {
				t.Errorf("Transfer-Encoding %q Content-Length %q, want chunked and none", r.field("Transfer-Encoding"), r.field("Content-Length"))
			}
			if got := r.field("Trailer"); got != tt.wantDeclared {
				t.Errorf("Trailer field %q, want %q", got, tt.wantDeclared)
			}
			if fmt.Sprint(r.Trailer) != fmt.Sprint(tt.wantTrailer) {
				t.Errorf("trailer %v, want %v", r.Trailer, tt.wantTrailer)
			}
			for name := range tt.wantTrailer {
				if _, ok := r.wire[name]; ok {
					t.Errorf("the trailer field %s is in the head too", name)
				}
			}
			for name := range r.wire {
				if strings.HasPrefix(name, http.TrailerPrefix) || strings.Contains(name, ":") {
					t.Errorf("the head has a field %q", name)
				}
			}
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if next := c.read("GET"); next.body != tt.wantBody {
				t.Errorf("next answer on the connection %q, want %q", next.body, tt.wantBody)
			}
		})
	}

	t.Run("HTTP/1.0", func(t *testing.T) {
		// An HTTP/1.0 client knows no chunks, so no trailers: the body
		// is delimited by the close.
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-A")
			io.WriteString(w, "body")
			w.Header().Set("X-A", "1")
		}), nil)
		c := ts.dial(t)
		c.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r := c.read("GET")
		if r.body != "body" || r.field("Transfer-Encoding") != "" || r.field("Connection") != "close" || len(r.Trailer) != 0 {
			t.Errorf("body %q Transfer-Encoding %q Connection %q trailer %v, want %q delimited by the close",
				r.body, r.field("Transfer-Encoding"), r.field("Connection"), r.Trailer, "body")
		}
		c.expectClosed()
	})
}

// TestTrailerFramingNames covers a handler that names a framing field in
// its Trailer field. Such a field cannot be a trailer (net/http's
// declareTrailer ignores it), and it must not be taken out of the head:
// without it the client cannot tell where the body ends. Only the head is
// checked: net/http passes the Trailer field on as the handler set it, and
// its own client then refuses the answer for naming Transfer-Encoding, so
// what a right server does with the Trailer field itself is open.
func TestTrailerFramingNames(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		wantCL string
		wantTE string
	}{
		{"Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "Content-Length")
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, "5", ""},
		{"Transfer-Encoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "Transfer-Encoding, X-A")
			io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
			w.Header().Set("X-A", "1")
		}, "", "chunked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.h, nil)
			c := ts.dial(t)
			c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			wire, err := c.peekHead()
			if err != nil {
				t.Fatal(err)
			}
			if cl, te := strings.Join(wire["Content-Length"], ","), strings.Join(wire["Transfer-Encoding"], ","); cl != tt.wantCL || te != tt.wantTE {
				t.Errorf("Content-Length %q Transfer-Encoding %q, want %q %q", cl, te, tt.wantCL, tt.wantTE)
			}
		})
	}
}

// TestInterimResponses covers 1xx answers before the final one (103 Early
// Hints): they carry the header as it is then; HTTP/1.0 clients get none.
func TestInterimResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "final")
	})
	t.Run("HTTP/1.1", func(t *testing.T) {
		ts := startServer(t, h, nil)
		c := ts.dial(t)
		c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		early := c.read("GET")
		if early.StatusCode != 103 || early.field("Link") != "</style.css>; rel=preload" || early.field("Content-Length") != "" {
			t.Errorf("first answer %d Link %q Content-Length %q, want 103 with the link", early.StatusCode, early.field("Link"), early.field("Content-Length"))
		}
		if r := c.read("GET"); r.StatusCode != 102 {
			t.Errorf("second answer %d, want 102", r.StatusCode)
		}
		final := c.read("GET")
		if final.StatusCode != 200 || final.body != "final" || final.field("Content-Type") != "text/plain" || final.field("Link") == "" {
			t.Errorf("final answer %d %q Content-Type %q Link %q", final.StatusCode, final.body, final.field("Content-Type"), final.field("Link"))
		}
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		ts := startServer(t, h, nil)
		c := ts.dial(t)
		c.write("GET / HTTP/1.0\r\n\r\n")
		if r := c.read("GET"); r.StatusCode != 200 || r.body != "final" {
			t.Errorf("answer %d %q, want 200 %q", r.StatusCode, r.body, "final")
		}
	})
}

// TestWriteToGoneClient covers a client that leaves while the answer is
// being written: the writes fail, the context ends, and the server does
// not log anything.
func TestWriteToGoneClient(t *testing.T) {
	results := make(chan error, 1)
	started := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		chunk := []byte(strings.Repeat("x", 64<<10))
		deadline := time.Now().Add(ioTimeout)
		for time.Now().Before(deadline) {
			if _, err := w.Write(chunk); err != nil {
				if r.Context().Err() == nil {
					results <- fmt.Errorf("a write failed (%v) but the context lives", err)
					return
				}
				results <- nil
				return
			}
		}
		results <- errors.New("the writes never failed")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	recv(t, started, "the handler")
	// A reset, not a close, so that the server's writes fail at once.
	c.Conn.(*net.TCPConn).SetLinger(0)
	c.Close()
	if err := recv(t, results, "the handler"); err != nil {
		t.Error(err)
	}
	if logs := ts.logs.String(); logs != "" {
		t.Errorf("log %q, want none", logs)
	}
}

// Interface checks of the ResponseWriter a handler gets.
func TestResponseWriterInterfaces(t *testing.T) {
	ok := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var missing []string
		if _, is := w.(http.Flusher); !is {
			missing = append(missing, "Flusher")
		}
		if _, is := w.(http.Hijacker); !is {
			missing = append(missing, "Hijacker")
		}
		if _, is := w.(interface{ FlushError() error }); !is {
			missing = append(missing, "FlushError")
		}
		ok <- strings.Join(missing, ",")
	}), nil)
	c := ts.dial(t)
	c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.read("GET")
	if m := recv(t, ok, "the handler"); m != "" {
		t.Errorf("the ResponseWriter does not implement %s", m)
	}
}
