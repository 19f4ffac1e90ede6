package h1

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
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
	// HTTP/1.0 has no transfer codings (RFC 9112 section 6.1): a server
	// that took the field would frame the body otherwise than one that
	// ignored it, as net/http does, so the request is refused.
	{name: "HTTP/1.0 with Transfer-Encoding chunked", status: 400, netHTTP: 200,
		req: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		why: "net/http ignores Transfer-Encoding in HTTP/1.0 and serves the request without a body (and the chunked body as the next request); this server refuses it, as RFC 9112 section 6.1 asks"},
	{name: "HTTP/1.0 with Transfer-Encoding and Content-Length", status: 400, netHTTP: 200,
		req: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhelloGET /second HTTP/1.0\r\n\r\n",
		why: "net/http ignores Transfer-Encoding in HTTP/1.0 and frames the body by its Content-Length; this server refuses the request"},
	{name: "HTTP/1.0 with Transfer-Encoding gzip", status: 400, netHTTP: 200,
		req: "GET / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
		why: "net/http ignores Transfer-Encoding in HTTP/1.0; this server refuses it"},
	{name: "HTTP/1.0 with an empty Transfer-Encoding", status: 400, netHTTP: 200,
		req: "GET / HTTP/1.0\r\ntransfer-encoding:\r\n\r\n",
		why: "net/http ignores Transfer-Encoding in HTTP/1.0; this server refuses it"},
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
// win and drops the Content-Length (RFC 9112 section 6.3), and the server
// serves the request so read; but such a message "ought to be handled as
// an error", and a server in front of which another one framed it by its
// Content-Length would disagree on where the next request starts. So the
// connection is closed after the answer: nothing after the chunked body is
// ever read as a request, and the "smuggled" one is never served.
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
	}{
		{
			name: "Content-Length first",
			// Read by its Content-Length, the first body would be
			// "5\r\nhello\r\n0\r\n\r\nGET /smug", and the next
			// request would begin with "gled".
			req: "POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 24\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "Transfer-Encoding first",
			req: "POST /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "lower-case names, Content-Length 0",
			req: "POST /first HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "smuggled request sent later",
			req: "POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5\r\nhello\r\n0\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seenc := make(chan seen, 2)
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
			r := c.read("POST")
			if r.StatusCode != 200 || r.body != "/first" {
				t.Fatalf("answer %d %q, want 200 %q", r.StatusCode, r.body, "/first")
			}
			if got := r.field("Connection"); got != "close" {
				t.Errorf("Connection: %q, want close", got)
			}
			want := seen{path: "/first", body: "hello", clen: -1, te: []string{"chunked"}}
			if got := recv(t, seenc, "the handler"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("the handler saw %+v, want %+v", got, want)
			}
			// A request sent after the answer finds the connection
			// closed, or is not read.
			c.Write([]byte("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"))
			c.expectClosed()
			select {
			case got := <-seenc:
				t.Errorf("the server served %+v after a request framed both ways", got)
			default:
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

// TestRefusalDoesNotEcho checks that a 400 names what is wrong without
// repeating what the client sent.
func TestRefusalDoesNotEcho(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	for _, req := range []string{
		"GET / HTTP/x<script>\r\nHost: a\r\n\r\n",
		"G<script>T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n<script> x\r\n\r\n",
	} {
		c := ts.dial(t)
		c.write(req)
		r := c.read("GET")
		if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "<script>") || !strings.Contains(r.body, "malformed") {
			t.Errorf("%q: %d %q, want a 400 that says what is malformed and does not echo the request", req, r.StatusCode, r.body)
		}
	}
}
