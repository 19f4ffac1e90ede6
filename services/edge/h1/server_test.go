package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// badRequests are requests the server must refuse before a handler sees
// them. status is the answer expected, 0 for a connection closed without
// one; closeWrite makes the client half-close after writing, which is how
// a request that never ends is told from one that is slow. smallHeader
// limits the header to 1 KiB (net/http's slack of 4 KiB comes on top).
// netHTTP, when set, is what net/http's server answers instead, for the
// few cases where this server answers differently on purpose; the
// difference is explained.
var badRequests = []struct {
	name        string
	req         string
	status      int
	closeWrite  bool
	smallHeader bool
	netHTTP     int
	why         string
}{
	{name: "HTTP/0.9 simple request", req: "GET /\r\n\r\n", status: 400},
	{name: "request line with an extra field", req: "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", status: 400},
	{name: "request line without a target", req: "GET HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "empty request line", req: "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "method with a non-token byte", req: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "target neither a path nor absolute", req: "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "lower-case protocol name", req: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "version without a minor", req: "GET / HTTP/1\r\nHost: a\r\n\r\n", status: 400},
	{name: "HTTP/2.0", req: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/3.0", req: "GET / HTTP/3.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/0.9 version", req: "GET / HTTP/0.9\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, netHTTP: 200,
		why: "net/http hands an HTTP/2 preface to the handler, for it to hijack the connection; this server supports no HTTP/2"},
	{name: "missing Host in HTTP/1.1", req: "GET / HTTP/1.1\r\n\r\n", status: 400},
	{name: "two Host fields", req: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
	{name: "two equal Host fields", req: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: 400},
	{name: "Host with a space", req: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
	{name: "space before the colon", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n", status: 400},
	{name: "space inside a name", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo Bar: baz\r\n\r\n", status: 400},
	{name: "non-token byte in a name", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo@: bar\r\n\r\n", status: 400},
	{name: "DEL in a name", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo\x7f: bar\r\n\r\n", status: 400},
	{name: "field line without a colon", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", status: 400},
	{name: "field line with an empty name", req: "GET / HTTP/1.1\r\nHost: a\r\n: bar\r\n\r\n", status: 400},
	{name: "first field line folded", req: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400},
	{name: "control byte in a value", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo: a\x01b\r\n\r\n", status: 400},
	{name: "NUL in a value", req: "GET / HTTP/1.1\r\nHost: a\r\nFoo: a\x00b\r\n\r\n", status: 400},
	{name: "control byte in Host", req: "GET / HTTP/1.1\r\nHost: a\x02\r\n\r\n", status: 400},
	{name: "one field over MaxHeaderBytes", smallHeader: true, status: 431,
		req: "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 10<<10) + "\r\n\r\n"},
	{name: "many fields over MaxHeaderBytes", smallHeader: true, status: 431,
		req: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Many: 0123456789abcdef\r\n", 500) + "\r\n"},
	{name: "target over MaxHeaderBytes", smallHeader: true, status: 431,
		req: "GET /" + strings.Repeat("p", 10<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "two different Content-Length", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
	{name: "Content-Length list", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd"},
	{name: "negative Content-Length", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"},
	{name: "Content-Length with a sign", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"},
	{name: "non-numeric Content-Length", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"},
	{name: "empty Content-Length", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"},
	{name: "Content-Length over int63", status: 400,
		req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n"},
	{name: "Transfer-Encoding gzip", status: 501,
		req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{name: "Transfer-Encoding gzip, chunked", status: 501,
		req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
	{name: "Transfer-Encoding identity", status: 501,
		req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"},
	{name: "Transfer-Encoding chunked twice in one field", status: 501,
		req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"},
	{name: "two Transfer-Encoding fields", status: 400, netHTTP: 501,
		req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		why: "the server tells an unsupported transfer coding from other errors by the parser's message, and the parser calls this one \"too many transfer encodings\"; both refuse the request"},
	{name: "Expect other than 100-continue", status: 417,
		req: "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"},
	{name: "Expect 100-continue with a suffix", status: 417,
		req: "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-please\r\nContent-Length: 1\r\n\r\nx"},
	{name: "nothing before the close", closeWrite: true, status: 0},
	// The parser takes what ends with the connection for a line.
	{name: "request line cut off", closeWrite: true, status: 400, req: "GET / HT"},
	{name: "header cut off", closeWrite: true, status: 0, req: "GET / HTTP/1.1\r\nHost: a\r\n", netHTTP: 400,
		why: "the client has gone (it said so by closing its side) before it ended its header: this server does not answer it, net/http answers 400"},
}

// TestBadRequests sends each bad request on a connection of its own and
// asserts the exact status, that the answer says the connection closes,
// that the connection is then closed, and that no handler was called.
func TestBadRequests(t *testing.T) {
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			h := &counter{h: http.HandlerFunc(echo)}
			ts := startServer(t, h, func(s *Server) {
				if tt.smallHeader {
					s.MaxHeaderBytes = 1 << 10
				}
			})
			c := ts.dial(t)
			c.write(tt.req)
			if tt.closeWrite {
				c.closeWrite()
			}
			if tt.status == 0 {
				c.expectClosed()
			} else {
				r := c.read("GET")
				if r.StatusCode != tt.status {
					t.Fatalf("status %d (%q), want %d; the handler was called %d times", r.StatusCode, r.body, tt.status, h.n.Load())
				}
				if got := r.field("Connection"); got != "close" {
					t.Errorf("Connection: %q, want close", got)
				}
				if !strings.HasPrefix(r.body, fmt.Sprint(tt.status)) {
					t.Errorf("body %q does not name the status", r.body)
				}
				c.expectCleanClose()
			}
			if n := h.n.Load(); n != 0 {
				t.Errorf("the handler was called %d times", n)
			}
		})
	}
}

// TestBadRequestsAsNetHTTP sends the bad requests to net/http's server as
// well: the package promises to accept what net/http accepts, so the two
// must answer alike, but for the differences listed (and justified) in the
// table.
func TestBadRequestsAsNetHTTP(t *testing.T) {
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			h := &counter{h: http.HandlerFunc(echo)}
			addr := startNetHTTP(t, h, func(s *http.Server) {
				if tt.smallHeader {
					s.MaxHeaderBytes = 1 << 10
				}
			})
			c := dialAddr(t, addr)
			c.write(tt.req)
			if tt.closeWrite {
				c.closeWrite()
			}
			got := 0
			if r, err := c.tryRead("GET"); err == nil {
				got = r.StatusCode
			}
			want := tt.status
			if tt.why != "" {
				want = tt.netHTTP
			}
			if got != want {
				t.Errorf("net/http answers %d, the table says %d: update the table or the server", got, want)
			}
		})
	}
}

// startNetHTTP serves h with net/http's server on a loopback port, for the
// tests that compare this server with it.
func startNetHTTP(t testing.TB, h http.Handler, adjust func(*http.Server)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: ioTimeout, ErrorLog: log.New(io.Discard, "", 0)}
	if adjust != nil {
		adjust(s)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// TestHostAsNetHTTP covers the Host rules that are not refusals in the
// table above: the authority of an absolute target takes the place of the
// Host field's. Two cases are answered differently from net/http on
// purpose (h1 is this server's status there), because http.ReadRequest
// takes the Host field out of the header and so leaves "empty" and
// "taken from the target" looking like "missing": an empty Host, which
// RFC 9112 (section 3.2) allows for a target without an authority, is
// refused, since the edge routes nothing without one; and an absolute
// target without a Host field is served, with the target's authority.
func TestHostAsNetHTTP(t *testing.T) {
	tests := []struct {
		name     string
		req      string
		status   int
		wantHost string
		h1       int
	}{
		{name: "empty Host", req: "GET / HTTP/1.1\r\nHost:\r\n\r\n", status: 200, wantHost: "", h1: 400},
		{name: "absolute target without Host", req: "GET http://a.example/ HTTP/1.1\r\n\r\n", status: 400, wantHost: "a.example", h1: 200},
		{name: "Host with a port", req: "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", status: 200, wantHost: "a.example:8080"},
		{name: "IPv6 Host", req: "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", status: 200, wantHost: "[::1]:80"},
		{name: "absolute target overrides Host", req: "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", status: 200, wantHost: "a.example"},
		{name: "HTTP/1.0 without Host", req: "GET / HTTP/1.0\r\n\r\n", status: 200, wantHost: ""},
		{name: "CONNECT without Host", req: "CONNECT a.example:443 HTTP/1.1\r\n\r\n", status: 200, wantHost: "a.example:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, impl := range []string{"h1", "net/http"} {
				hosts := make(chan string, 1)
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host })
				var c *rawConn
				if impl == "h1" {
					c = startServer(t, h, nil).dial(t)
				} else {
					c = dialAddr(t, startNetHTTP(t, h, nil))
				}
				c.write(tt.req)
				method, _, _ := strings.Cut(tt.req, " ")
				r := c.read(method)
				want := tt.status
				if impl == "h1" && tt.h1 != 0 {
					want = tt.h1
				}
				if r.StatusCode != want {
					t.Errorf("%s: status %d (%q), want %d", impl, r.StatusCode, r.body, want)
					continue
				}
				if want != 200 {
					continue
				}
				if got := recv(t, hosts, "the handler"); got != tt.wantHost {
					t.Errorf("%s: r.Host %q, want %q", impl, got, tt.wantHost)
				}
			}
		})
	}
}

// TestContentLengthWithTransferEncoding covers the request smuggling
// attempt of a message framed both ways. net/http's parser lets chunked
// win and drops the Content-Length (RFC 9112 section 6.3); what matters is
// that the server then reads the body as chunked to its end, so that the
// next request on the connection starts where the chunked body ends and
// not where the Content-Length would have put it. HTTP/1.0 knows no
// Transfer-Encoding: there the Content-Length frames the body.
func TestContentLengthWithTransferEncoding(t *testing.T) {
	type seen struct {
		path, body string
		clen       int64
		te         []string
		clField    string
	}
	tests := []struct {
		name string
		req  string
		want []seen
	}{
		{
			name: "HTTP/1.1 chunked wins",
			// Read by its Content-Length, the first body would be
			// "5\r\nhello\r\n0\r\n\r\nGET /smug", and the next
			// request would begin with "gled".
			req: "POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 24\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []seen{
				{path: "/first", body: "hello", clen: -1, te: []string{"chunked"}},
				{path: "/smuggled", body: "", clen: 0},
			},
		},
		{
			name: "HTTP/1.1 Transfer-Encoding before Content-Length",
			req: "POST /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n" +
				"GET /second HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []seen{
				{path: "/first", body: "hello", clen: -1, te: []string{"chunked"}},
				{path: "/second", body: "", clen: 0},
			},
		},
		{
			name: "HTTP/1.0 Content-Length wins",
			req: "POST /first HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"hello" +
				"GET /second HTTP/1.0\r\n\r\n",
			want: []seen{
				{path: "/first", body: "hello", clen: 5, clField: "5"},
				{path: "/second", body: "", clen: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seenc := make(chan seen, len(tt.want)+1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("%s: reading the body: %v", r.URL.Path, err)
				}
				seenc <- seen{path: r.URL.Path, body: string(b), clen: r.ContentLength, te: r.TransferEncoding, clField: r.Header.Get("Content-Length")}
				io.WriteString(w, r.URL.Path)
			}), nil)
			c := ts.dial(t)
			c.write(tt.req)
			for _, want := range tt.want {
				r := c.read("POST")
				if r.StatusCode != 200 || r.body != want.path {
					t.Fatalf("answer %d %q, want 200 %q", r.StatusCode, r.body, want.path)
				}
				got := recv(t, seenc, "the handler")
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("the handler saw %+v, want %+v", got, want)
				}
			}
		})
	}
}

// TestRequestBodies covers request bodies that are read to their end: the
// connection is kept and the next request is parsed where the body ends.
func TestRequestBodies(t *testing.T) {
	tests := []struct {
		name     string
		req      string
		wantBody string
		trailer  string
	}{
		{"Content-Length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "hello", ""},
		{"two equal Content-Length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "hello", ""},
		{"chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", "hello", ""},
		{"chunked with extensions", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"chunked with a trailer", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n", "hello", "42"},
		{"Content-Length 0", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trailers := make(chan string, 2)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				echo(w, r)
				trailers <- r.Trailer.Get("X-Sum")
			}), nil)
			c := ts.dial(t)
			c.write(tt.req + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			if r := c.read("POST"); r.StatusCode != 200 || r.body != "POST /x "+tt.wantBody || r.Close {
				t.Errorf("first answer %d %q (close %v), want 200 %q on a kept connection", r.StatusCode, r.body, r.Close, "POST /x "+tt.wantBody)
			}
			if got := recv(t, trailers, "the handler"); got != tt.trailer {
				t.Errorf("request trailer %q, want %q", got, tt.trailer)
			}
			if r := c.read("GET"); r.StatusCode != 200 || r.body != "GET /next " {
				t.Errorf("second answer %d %q, want 200 %q", r.StatusCode, r.body, "GET /next ")
			}
		})
	}
}

// TestMalformedChunkedBody covers a chunked body that turns out bad while
// the handler reads it: the handler sees the error, its answer reaches the
// client, and the connection is closed since the next request's start is
// unknown.
func TestMalformedChunkedBody(t *testing.T) {
	errs := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad body")
	}), nil)
	c := ts.dial(t)
	c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	if err := recv(t, errs, "the handler"); err == nil {
		t.Error("reading a malformed chunked body succeeded")
	}
	r := c.read("POST")
	if r.StatusCode != 400 || r.body != "bad body" || r.field("Connection") != "close" {
		t.Errorf("answer %d %q Connection %q, want 400 %q close", r.StatusCode, r.body, r.field("Connection"), "bad body")
	}
	c.expectClosed()
}

// TestKeepAlive sends requests one after the other on one connection: each
// is answered on it, and none of the answers announces a close.
func TestKeepAlive(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	c := ts.dial(t)
	for i := range 5 {
		method, body := "GET", ""
		req := fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		if i%2 == 1 {
			method, body = "POST", fmt.Sprintf("body %d", i)
			req = fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
		}
		c.write(req)
		r := c.read(method)
		want := fmt.Sprintf("%s /%d %s", method, i, body)
		if r.StatusCode != 200 || r.body != want {
			t.Fatalf("request %d: answer %d %q, want 200 %q", i, r.StatusCode, r.body, want)
		}
		if got := r.field("Connection"); got != "" {
			t.Errorf("request %d: Connection: %q, want none", i, got)
		}
		if r.field("Date") == "" {
			t.Errorf("request %d: no Date", i)
		}
	}
	c.expectOpen()
}

// TestPipelining writes several requests in one write; they must be
// answered in order, each answer whole.
func TestPipelining(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("B", 10000))
			return
		}
		echo(w, r)
	}), nil)
	c := ts.dial(t)
	c.write("GET /a HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz" +
		"HEAD /c HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nuv\r\n0\r\n\r\n" +
		"GET /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /a "},
		{"POST", "POST /b xyz"},
		{"HEAD", ""},
		{"GET", strings.Repeat("B", 10000)},
		{"POST", "POST /d uv"},
		{"GET", "GET /e "},
	} {
		r := c.read(want.method)
		if r.StatusCode != 200 || r.body != want.body {
			t.Fatalf("%s: answer %d %.40q, want 200 %.40q", want.method, r.StatusCode, r.body, want.body)
		}
	}
	c.expectClosed()
}

// TestHTTP10 covers the connection of an HTTP/1.0 client, which is closed
// after each answer unless the client asks for keep-alive, and then only
// if the answer's length is known.
func TestHTTP10(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("B", 5000))
			return
		}
		echo(w, r)
	}), nil)

	t.Run("no keep-alive", func(t *testing.T) {
		c := ts.dial(t)
		c.write("GET /x HTTP/1.0\r\n\r\n")
		r := c.read("GET")
		if r.StatusCode != 200 || r.body != "GET /x " || r.field("Connection") != "close" || r.field("Content-Length") != "7" {
			t.Errorf("answer %d %q Connection %q Content-Length %q, want 200 %q close 7",
				r.StatusCode, r.body, r.field("Connection"), r.field("Content-Length"), "GET /x ")
		}
		c.expectClosed()
	})

	t.Run("keep-alive with a body", func(t *testing.T) {
		c := ts.dial(t)
		c.write("POST /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc")
		r := c.read("POST")
		if r.StatusCode != 200 || r.body != "POST /x abc" || r.field("Connection") != "keep-alive" || r.field("Content-Length") != "11" {
			t.Errorf("answer %d %q Connection %q Content-Length %q, want 200 %q keep-alive 11",
				r.StatusCode, r.body, r.field("Connection"), r.field("Content-Length"), "POST /x abc")
		}
		c.write("GET /y HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /y " || r.field("Connection") != "keep-alive" {
			t.Errorf("second answer %q Connection %q, want %q keep-alive", r.body, r.field("Connection"), "GET /y ")
		}
		c.write("GET /z HTTP/1.0\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /z " || r.field("Connection") != "close" {
			t.Errorf("third answer %q Connection %q, want %q close", r.body, r.field("Connection"), "GET /z ")
		}
		c.expectClosed()
	})

	t.Run("keep-alive with a long answer of unknown length", func(t *testing.T) {
		// There is no chunked coding in HTTP/1.0: the close is what
		// ends the body.
		c := ts.dial(t)
		c.write("GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r := c.read("GET")
		if r.body != strings.Repeat("B", 5000) || r.field("Connection") != "close" || r.field("Content-Length") != "" || r.field("Transfer-Encoding") != "" {
			t.Errorf("answer of %d bytes, Connection %q Content-Length %q Transfer-Encoding %q, want 5000 bytes delimited by the close",
				len(r.body), r.field("Connection"), r.field("Content-Length"), r.field("Transfer-Encoding"))
		}
		c.expectClosed()
	})
}

// TestClientClose covers a client's Connection: close, in any case and
// among other tokens.
func TestClientClose(t *testing.T) {
	for _, value := range []string{"close", "Close", "keep-alive, close"} {
		t.Run(value, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(echo), nil)
			c := ts.dial(t)
			c.write("GET /x HTTP/1.1\r\nHost: a\r\nConnection: " + value + "\r\n\r\n")
			r := c.read("GET")
			if r.body != "GET /x " || r.field("Connection") != "close" {
				t.Errorf("answer %q Connection %q, want %q close", r.body, r.field("Connection"), "GET /x ")
			}
			c.expectCleanClose()
		})
	}
}

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

// TestRequest covers what a handler gets: the fields of the request as
// sent, the client's address, and a live context.
func TestRequest(t *testing.T) {
	type seen struct {
		method, uri, path, query, host, proto, remote string
		major, minor                                  int
		header                                        http.Header
		ctxErr                                        error
	}
	seenc := make(chan seen, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenc <- seen{r.Method, r.RequestURI, r.URL.Path, r.URL.RawQuery, r.Host, r.Proto, r.RemoteAddr,
			r.ProtoMajor, r.ProtoMinor, r.Header, r.Context().Err()}
	}), nil)
	c := ts.dial(t)
	c.write("PATCH /a%20b?x=1 HTTP/1.1\r\nHost: a.example\r\nX-One: 1\r\nX-Two: 2\r\nX-Two: 3\r\n\r\n")
	c.read("PATCH")
	got := recv(t, seenc, "the handler")
	want := seen{"PATCH", "/a%20b?x=1", "/a b", "x=1", "a.example", "HTTP/1.1", c.LocalAddr().String(), 1, 1,
		http.Header{"X-One": {"1"}, "X-Two": {"2", "3"}}, nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the handler saw\n%+v\nwant\n%+v", got, want)
	}
}

// TestNetHTTPClient covers the server with net/http's client: requests of
// each kind are answered, on one connection kept alive.
func TestNetHTTPClient(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("b", 100000))
			return
		}
		echo(w, r)
	}), nil)
	client := ts.client(t)
	var mu sync.Mutex
	var conns []string
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conns = append(conns, info.Conn.LocalAddr().String())
		mu.Unlock()
	}}
	for _, tt := range []struct {
		method, path, body, want string
	}{
		{"GET", "/a", "", "GET /a "},
		{"POST", "/b", "hello", "POST /b hello"},
		{"PUT", "/c", strings.Repeat("p", 100000), "PUT /c " + strings.Repeat("p", 100000)},
		{"GET", "/big", "", strings.Repeat("b", 100000)},
		{"HEAD", "/d", "", ""},
		{"DELETE", "/e", "", "DELETE /e "},
	} {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), tt.method, ts.url(tt.path), body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != tt.want {
			t.Errorf("%s %s: %d %.40q (%v), want 200 %.40q", tt.method, tt.path, resp.StatusCode, b, err, tt.want)
		}
	}
	for _, addr := range conns {
		if addr != conns[0] {
			t.Errorf("the client used connections %v, want one", conns)
			break
		}
	}
}

// TestManyConnections covers concurrent clients, each on its own
// connections, with bodies in both directions.
func TestManyConnections(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	client := ts.client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				body := strings.Repeat(fmt.Sprint(i), 1000*j)
				resp, err := client.Post(ts.url(fmt.Sprintf("/%d/%d", i, j)), "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("POST /%d/%d %s", i, j, body); string(b) != want {
					errs <- fmt.Errorf("answer %.40q, want %.40q", b, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
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
func (l failingListener) Close() error              { return nil }
func (l failingListener) Addr() net.Addr            { return &net.TCPAddr{} }

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
