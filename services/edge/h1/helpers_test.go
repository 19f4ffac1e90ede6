package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ioTimeout bounds every wait of a test on the network. It is far longer
// than anything should take on a loaded machine, so that a test fails on
// it only when something hangs.
const ioTimeout = 10 * time.Second

// testServer is a Server serving on a loopback listener for one test.
type testServer struct {
	*Server
	addr string
	logs *syncBuffer

	served   chan struct{} // closed when Serve has returned
	serveErr error
}

// startServer serves h on 127.0.0.1 with a Server that logs to a buffer,
// after adjust (if any) has set its fields. The server is closed when the
// test ends, and Serve must then return ErrServerClosed.
func startServer(t testing.TB, h http.Handler, adjust func(*Server)) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := &Server{Handler: h, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if adjust != nil {
		adjust(s)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), logs: logs, served: make(chan struct{})}
	go func() {
		ts.serveErr = s.Serve(l)
		close(ts.served)
	}()
	t.Cleanup(func() {
		s.Close()
		if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ts
}

// waitServe waits for Serve to return and gives its error.
func (ts *testServer) waitServe() error {
	select {
	case <-ts.served:
		return ts.serveErr
	case <-time.After(ioTimeout):
		return errors.New("Serve did not return")
	}
}

// url is the server's URL for path.
func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }

// client is a net/http client of its own for one test, so that its
// connections are not shared with other tests.
func (ts *testServer) client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

// rawConn is a client connection on which a test writes bytes and reads
// what the server answers, as the server sees it on the wire.
type rawConn struct {
	t testing.TB
	net.Conn
	br *bufio.Reader
}

// dial opens a raw connection to the server; every read and write on it
// fails after ioTimeout, so that a server that does not answer makes the
// test fail rather than hang.
func (ts *testServer) dial(t testing.TB) *rawConn {
	t.Helper()
	return dialAddr(t, ts.addr)
}

func dialAddr(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, Conn: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

// write sends s on the connection.
func (c *rawConn) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
}

// closeWrite tells the server that the client sends nothing more.
func (c *rawConn) closeWrite() {
	c.t.Helper()
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		c.t.Fatal(err)
	}
}

// wireResponse is a response as read from the wire, its body read to its end.
// wire is its header as it was sent, before http.ReadResponse took the
// framing fields out of it, so that tests can assert exactly which of
// Content-Length and Transfer-Encoding the server sent.
type wireResponse struct {
	*http.Response
	body string
	wire http.Header
}

// read reads one response to a request with the given method, with its
// body (and trailers).
func (c *rawConn) read(method string) wireResponse {
	c.t.Helper()
	r, err := c.tryRead(method)
	if err != nil {
		c.t.Fatalf("reading the response to %s: %v", method, err)
	}
	return r
}

// tryRead is read that returns its error.
func (c *rawConn) tryRead(method string) (wireResponse, error) {
	wire, err := c.peekHead()
	if err != nil {
		return wireResponse{}, err
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return wireResponse{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return wireResponse{Response: resp, body: string(body), wire: wire}, err
}

// peekHead parses the head of the next response without consuming it,
// giving its header fields as they are on the wire.
func (c *rawConn) peekHead() (http.Header, error) { return peekHead(c.br) }

func peekHead(br *bufio.Reader) (http.Header, error) {
	n := 1
	for {
		b, err := br.Peek(n)
		if err == nil {
			// See all that has arrived, not just the n bytes asked for.
			b, _ = br.Peek(br.Buffered())
		}
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(b[:i+4])))
			if _, err := tp.ReadLine(); err != nil {
				return nil, err
			}
			h, err := tp.ReadMIMEHeader()
			return http.Header(h), err
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading a response head (%q so far): %w", b, err)
		}
		// Wait for at least one byte more than has arrived.
		n = br.Buffered() + 1
	}
}

// readFinal reads the responses to one request until the final one,
// returning it and the codes of the interim (1xx) ones before it.
func (c *rawConn) readFinal(method string) (wireResponse, []int) {
	c.t.Helper()
	var interim []int
	for {
		r := c.read(method)
		if r.StatusCode >= 200 || r.StatusCode == http.StatusSwitchingProtocols {
			return r, interim
		}
		interim = append(interim, r.StatusCode)
	}
}

// expectClosed asserts that the server closes the connection without
// sending anything more (a reset counts as a close here; see
// expectCleanClose for the stricter check).
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := io.ReadAll(c.br)
	if len(b) > 0 {
		c.t.Errorf("after the answer the server sent %q more", b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Errorf("waiting for the server to close the connection: %v", err)
	}
}

// expectCleanClose asserts that the server ends the connection with a
// close (FIN) and not a reset: a reset is what a server that closes with
// unread request bytes causes, and with it the client may lose the answer.
func (c *rawConn) expectCleanClose() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := io.ReadAll(c.br)
	if len(b) > 0 {
		c.t.Errorf("after the answer the server sent %q more", b)
	}
	if err != nil {
		c.t.Errorf("the connection ended with %v, want a clean close", err)
	}
}

// expectOpen asserts that the server keeps the connection open for a
// moment after an answer, sending nothing. It waits a fixed time, which
// only makes the test pass when it should not if the server is slower than
// that to close the connection; it cannot make a correct server fail.
func (c *rawConn) expectOpen() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	b, err := c.br.ReadByte()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	var ne net.Error
	if err == nil {
		c.t.Errorf("the server sent %q unasked", b)
	} else if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Errorf("the connection should stay open, got %v", err)
	}
}

// syncBuffer is a bytes.Buffer that the server's logger and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// counter is a handler wrapper counting its calls, for the tests that
// assert a handler was, or was not, reached.
type counter struct {
	n atomic.Int32
	h http.Handler
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	if c.h != nil {
		c.h.ServeHTTP(w, r)
	}
}

// echo answers with the method, the path and the request body, which it
// reads to its end.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(body))
}

// field is the value of a response header field as it was sent, "" if
// absent, the values joined by commas if there are several.
func (r wireResponse) field(name string) string { return strings.Join(r.wire.Values(name), ",") }

// within runs f and fails the test if it has not returned after d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %v", what, d)
	}
}

// recv waits for a value on ch, failing the test after ioTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
