package h1

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// FuzzFramingDifferential feeds the same bytes, as one client connection,
// to this server and to net/http's, and compares the requests their
// handlers see: method, target, protocol, host, body and whether the body
// ended in an error. Equal sequences mean the two found the same requests,
// each ending where the next begins: a server that framed a body
// otherwise would see another body, or another request after it.
//
// The servers are real ones, each serving a listener of its own, but the
// connection is in memory (memConn), which is far faster than loopback
// and, since a read never waits, makes the outcome depend on the bytes
// alone: a read gets the next bytes (at most chunk of them, when chunk is
// not 0, so that heads and bodies arrive in pieces) and then EOF, the
// client having sent all. The servers' deadlines, which nothing here waits
// long enough to meet, are left out.
//
// The sequences may differ where this server answers otherwise on purpose,
// and only there (see compareRequests); each difference is argued in the
// package doc or in framing.go:
//
//   - An HTTP/1.1 request (not CONNECT) whose Host is empty: net/http serves
//     it, this server refuses it and closes. net/http's sequence is cut
//     before it.
//   - An HTTP/1.1 request (not CONNECT) whose target is in absolute form and
//     that has no Host field: this server serves it with the target's
//     authority, net/http refuses it and closes. The handler cannot see
//     whether a Host field came (the parser takes it out of the header), so
//     this is taken to be the case when net/http's sequence ends just where
//     this server served such a request; this server's sequence is then
//     cut after it.
//   - The HTTP/2 preface (PRI * HTTP/2.0): net/http hands it to the handler,
//     this server answers 505 and closes. net/http's sequence is cut before
//     it.
//   - A request with both Content-Length and Transfer-Encoding: both read
//     it as chunked, and this server closes after it (reported to OnRefuse
//     as RefuseFramingClose, just before its handler runs). net/http's
//     sequence is cut after it.
//   - An HTTP/1.0 request with Transfer-Encoding: net/http ignores the field
//     and serves it, this server refuses it with 400 (RefuseFraming) and
//     closes. net/http's sequence is cut before it, which must be an
//     HTTP/1.0 request.
//   - A target in absolute form whose authority is not a valid Host (such
//     as `A://"`), with no Host field: this server checks the request's
//     host whichever way it came, answers 400 and closes; net/http checks
//     only a Host field and serves it, with that authority as its Host,
//     which the edge would then route and log. net/http's sequence is cut
//     before it.
//   - An Expect field that is not exactly 100-continue (in any case):
//     this server answers 417 and closes (see checkExpect), net/http serves
//     one whose value holds the token 100-continue among other text (such
//     as "foo, 100-continue"), taking an expectation it does not know for
//     one it does. net/http's sequence is cut before it.
//
// The package doc's other differences are in answers (HEAD's
// Content-Length, no Content-Type sniffing), not in the requests seen:
// nothing is normalized for them.
func FuzzFramingDifferential(f *testing.F) {
	for _, seed := range []string{
		// Content-Length with Transfer-Encoding, either way round.
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 24\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		// Content-Length twice, equal and not.
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		// Chunked, with extensions and a trailer; and a bad chunk.
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1;q=\"x\"\r\nhello\r\n3 ; e\r\nabc\r\n0;last\r\nX-T: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		// obs-fold, in a field and in a framing field.
		"GET /a HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		// Bare LF line ends, and a bare CR.
		"POST /a HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloGET /b HTTP/1.1\nHost: a\n\n",
		"GET /a HTTP/1.1\rHost: a\r\n\r\n",
		// HTTP/1.0: keep-alive, without it, and with Transfer-Encoding.
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /c HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n",
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.0\r\n\r\n",
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		// Pipelined requests, a body cut off, and Connection: close.
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\nHEAD /b HTTP/1.1\r\nHost: a\r\n\r\nPOST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nxyDELETE /d?q HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nshort",
		"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n",
		// The differences on purpose.
		"GET /a HTTP/1.1\r\nHost:\r\n\r\n",
		"GET http://a.example/x HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET A://\" HTTP/1.0\r\n\r\n",
		// Expect, and an empty line after a body.
		"POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nExpect: foo, 100-continue\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		for _, chunk := range []uint8{0, 1, 7} {
			f.Add([]byte(seed), chunk)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		h1Seen, logs := serveH1(t, in, int(chunk))
		netSeen := serveNetHTTP(t, in, int(chunk))
		if logs != "" {
			t.Fatalf("the server logged %q", logs)
		}
		if err := compareRequests(h1Seen, netSeen); err != nil {
			t.Fatalf("%v\nh1:       %+v\nnet/http: %+v\ninput %q", err, h1Seen, netSeen, in)
		}
	})
}

// seenRequest is what a handler saw of a request, or (refusal set) what
// this server gave OnRefuse.
type seenRequest struct {
	method, target, proto, host string
	urlHost                     string // the host of an absolute target
	body                        string
	bodyErr                     bool
	refusal                     string
	expect                      string // the first Expect field
}

// recorder collects what one server's handler and OnRefuse see.
type recorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rec.add(seenRequest{method: r.Method, target: r.RequestURI, proto: r.Proto, host: r.Host,
		urlHost: r.URL.Host, body: string(body), bodyErr: err != nil, expect: r.Header.Get("Expect")})
	io.WriteString(w, "ok")
}

func (rec *recorder) refused(reason string) { rec.add(seenRequest{refusal: reason}) }

func (rec *recorder) add(s seenRequest) {
	rec.mu.Lock()
	rec.seen = append(rec.seen, s)
	rec.mu.Unlock()
}

func (rec *recorder) requests() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenRequest(nil), rec.seen...)
}

// differentialHeaderBytes is both servers' MaxHeaderBytes.
const differentialHeaderBytes = 4 << 10

func serveH1(t *testing.T, in []byte, chunk int) ([]seenRequest, string) {
	rec := &recorder{}
	logs := &syncBuffer{}
	s := &Server{
		Handler:        rec,
		MaxHeaderBytes: differentialHeaderBytes,
		// The watch would read on while a handler runs; a handler here
		// never runs that long.
		WatchAfter: time.Minute,
		OnRefuse:   rec.refused,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	}
	c := newMemConn(in, chunk)
	l := newOneConnListener(c)
	go s.Serve(l)
	c.wait(t, "h1")
	s.Close()
	return rec.requests(), logs.String()
}

func serveNetHTTP(t *testing.T, in []byte, chunk int) []seenRequest {
	rec := &recorder{}
	s := &http.Server{Handler: rec, MaxHeaderBytes: differentialHeaderBytes, ErrorLog: log.New(io.Discard, "", 0)}
	c := newMemConn(in, chunk)
	l := newOneConnListener(c)
	go s.Serve(l)
	c.wait(t, "net/http")
	s.Close()
	return rec.requests()
}

// compareRequests compares what the two servers saw, allowing only the
// differences listed at FuzzFramingDifferential.
func compareRequests(h1Seen, netSeen []seenRequest) error {
	for i, j := 0, 0; ; i, j = i+1, j+1 {
		var e, n *seenRequest
		if i < len(h1Seen) {
			e = &h1Seen[i]
		}
		if j < len(netSeen) {
			n = &netSeen[j]
		}
		switch {
		case e != nil && e.refusal == RefuseFraming:
			// HTTP/1.0 with Transfer-Encoding: refused here, served
			// by net/http.
			if n == nil || n.proto != "HTTP/1.0" || i != len(h1Seen)-1 {
				return fmt.Errorf("request %d: refused for its framing, where net/http saw %+v", i, n)
			}
			return nil
		case e != nil && e.refusal == RefuseFramingClose:
			// Content-Length with Transfer-Encoding: served, then the
			// connection closed.
			if i != len(h1Seen)-2 || h1Seen[i+1].refusal != "" {
				return fmt.Errorf("request %d: framed both ways, but not served last", i)
			}
			if n == nil || *n != h1Seen[i+1] {
				return fmt.Errorf("request %d: framed both ways, served as %+v, net/http saw %+v", i, h1Seen[i+1], n)
			}
			return nil
		case e != nil && e.refusal != "":
			return fmt.Errorf("request %d: refused for %q", i, e.refusal)
		case n != nil && http11(n) && n.method != http.MethodConnect && n.host == "":
			// An empty Host: refused here.
			if e != nil {
				return fmt.Errorf("request %d: served %+v, where net/http saw an empty Host", i, e)
			}
			return nil
		case n != nil && n.method == "PRI" && n.proto == "HTTP/2.0":
			// The HTTP/2 preface: answered 505 here.
			if e != nil {
				return fmt.Errorf("request %d: served %+v, where net/http saw the HTTP/2 preface", i, e)
			}
			return nil
		case n != nil && n.expect != "" && !strings.EqualFold(n.expect, "100-continue"):
			// An Expect other than 100-continue: answered 417 here.
			if e != nil {
				return fmt.Errorf("request %d: served %+v, where net/http saw Expect %q", i, e, n.expect)
			}
			return nil
		case n != nil && n.urlHost != "" && !httpguts.ValidHostHeader(n.urlHost):
			// An absolute target whose authority is no valid Host:
			// refused here.
			if e != nil {
				return fmt.Errorf("request %d: served %+v, where net/http saw the authority %q", i, e, n.urlHost)
			}
			return nil
		case e != nil && n == nil && http11(e) && e.method != http.MethodConnect && e.urlHost != "":
			// An absolute target, and net/http stopped: it had no
			// Host field.
			return nil
		case e == nil && n == nil:
			return nil
		case e == nil || n == nil || *e != *n:
			return fmt.Errorf("request %d differs", i)
		}
	}
}

func http11(r *seenRequest) bool {
	var major, minor int
	_, err := fmt.Sscanf(r.proto, "HTTP/%d.%d", &major, &minor)
	return err == nil && (major > 1 || major == 1 && minor >= 1)
}

// memConn is a client connection in memory: reads take what the client
// sent, then find its end; writes are dropped. It is done when the server
// closes it, or shuts its writing side (net/http does that, and then waits
// half a second for the client to read, before it closes; this server does
// it before reading what is left, which is nothing).
type memConn struct {
	mu     sync.Mutex
	in     []byte
	chunk  int
	closed bool
	done   chan struct{}
	once   sync.Once
}

func newMemConn(in []byte, chunk int) *memConn {
	return &memConn{in: in, chunk: chunk, done: make(chan struct{})}
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.CloseWrite()
	return nil
}

func (c *memConn) CloseWrite() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// wait waits for the server to be done with c.
func (c *memConn) wait(t *testing.T, server string) {
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s neither closed the connection nor finished with it", server)
	}
}

func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
func (memAddr) Network() string                     { return "mem" }
func (memAddr) String() string                      { return "mem" }

type memAddr struct{}

// oneConnListener gives one connection, then waits to be closed.
type oneConnListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return memAddr{} }
