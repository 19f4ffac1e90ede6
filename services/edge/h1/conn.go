package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/certbind/certbind/services/edge/internal/deadline"
	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

var errTooManyFiles = syscall.EMFILE

// Buffer sizes of a client connection.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 4 << 10
	// pendingMax is how much of a body of unknown length is held before
	// the head is sent: a body that ends within it gets a
	// Content-Length, a longer one is sent chunked.
	pendingMax = 2 << 10
)

// aLongTimeAgo is a deadline that has passed: it makes a blocked read
// return at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	r      connReader
	br     *bufio.Reader
	bw     *outBuf
	remote string
	// ctx is every request's context on this connection. It ends when
	// the client is seen to have gone, or when the connection ends.
	ctx *connContext

	mu       sync.Mutex // guards idle and closed, for Shutdown
	idle     bool
	closed   bool
	hijacked bool

	// The watch for a departed client (see armWatch): armedAt is when it
	// was armed (UnixNano; 0 when it is not), and timerOn says watchTimer
	// is pending or running, which only the one who set it may change.
	armedAt    atomic.Int64
	timerOn    atomic.Bool
	watchTimer *time.Timer
	// rd is the read deadline the connection's goroutine set. It is
	// coarse: the idle and header timeouts may end up to
	// deadline.Slack of themselves late, so that a busy connection does
	// not update its timer on every request.
	rd      deadline.Read
	pending []byte    // reused by each response
	resp    *response // reused by each request (see newResponse)
	// client is the key the connection is counted under for
	// MaxConnsPerIP, if keyed (see Server.newConn); both are the
	// server's, under its lock.
	client netip.Addr
	keyed  bool
	// afterPost says the last request was a POST (see skipEmptyLines).
	afterPost bool
	// framingClose says the request being served was framed both by
	// Content-Length and Transfer-Encoding: the connection closes after
	// its answer (see checkFraming).
	framingClose bool
	await        awaitState
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.ctx = newConnContext()
	c.r = connReader{c: c, limit: -1}
	c.br = bufio.NewReaderSize(&c.r, readBufferSize)
	c.bw = newOutBuf(c, writeBufferSize)
	c.initAwait()
	c.watchTimer = time.AfterFunc(time.Hour, c.watchDue)
	c.watchTimer.Stop()
	return c
}

// cancel ends the context of the connection's requests: the client has
// gone, or the connection has ended.
func (c *conn) cancel() { c.ctx.end() }

// checkWriter ends the context of a connection whose client cannot be
// written to.
type checkWriter struct{ c *conn }

func (w checkWriter) Write(p []byte) (int, error) {
	n, err := w.c.nc.Write(p)
	if err != nil {
		w.c.cancel()
	}
	return n, err
}

// closeIfIdle closes c if it is waiting for a request (for Shutdown).
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle && !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

func (c *conn) setIdle(idle bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = idle
	return !c.closed
}

func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			c.srv.logger().Error("handler panicked", "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		c.stopWatch()
		c.cancel()
		if !c.hijacked {
			c.nc.Close()
			c.srv.connDone(c)
		}
	}()
	for first := true; ; first = false {
		// Until a request begins the connection is idle, and Shutdown
		// may close it. The first request must begin (and end its
		// header) within ReadHeaderTimeout; a later one within
		// IdleTimeout of the last.
		if !c.setIdle(true) || c.srv.isClosing() {
			return
		}
		wait := c.srv.readHeaderTimeout()
		if !first {
			wait = c.srv.idleTimeout()
		}
		c.rd.By(c.nc, time.Now(), wait)
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.setIdle(false) {
			return
		}
		// The first request's deadline, set above, already bounds its
		// header: the first byte's wait counts against the header's time.
		// A later request's header gets ReadHeaderTimeout from its first
		// byte, unless it has all come already (as a request usually
		// has, in one segment), so that nothing is left to wait for.
		if !first && !c.headBuffered() {
			c.rd.By(c.nc, time.Now(), c.srv.readHeaderTimeout())
		}
		req, err := c.readRequest()
		if err != nil {
			c.reject(err)
			return
		}
		c.afterPost = req.Method == http.MethodPost
		// A body is read paced (see pace): an upload may take as long as
		// it takes, as long as it keeps coming. A request without one
		// leaves the deadline as it is, saving a timer update per
		// request: nothing reads the connection until the next request
		// but the watch, which clears the deadline if it passes (see
		// watch).
		if req.Body != nil && req.Body != http.NoBody {
			if window := c.srv.bodyReadTimeout(); window > 0 {
				c.r.pace(window, c.srv.bodyWindowBytes())
			} else {
				c.rd.Clear(c.nc)
			}
		}
		w := newResponse(c, req)
		if c.framingClose {
			w.closeAfter = true
			c.srv.refused(RefuseFramingClose)
		}
		// A refused Expect is answered (and the connection closed)
		// like any other answer, without the handler.
		if w.checkExpect() {
			c.srv.Handler.ServeHTTP(w, req)
		}
		c.stopWatch()
		if c.hijacked {
			return
		}
		// The answer is complete but not sent: a connection kept open
		// sends it as it begins its wait for the next request.
		w.finish()
		if w.closeAfter || c.ctx.Err() != nil {
			w.flush()
			// After a request framed both ways, the bytes that
			// follow its body may still be coming: they are read and
			// dropped, so that the close does not reset the
			// connection and lose the answer.
			if !w.bodyDone || c.framingClose {
				c.lingeringClose()
			}
			return
		}
		// The body was read to its end: the handler reads it no more.
		if c.r.unpace() {
			c.rd.Cleared()
		}
		// The response is kept for the next request: it lets go of
		// this one's request and body now, not when the next comes.
		w.req, w.body = nil, nil
		if !c.sendAwait() {
			return
		}
	}
}

// headBuffered reports whether the buffer holds a whole request head: its
// end, an empty line, is there.
func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, httpfield.HeadEnd)
}

// readRequest reads a request's line and header: a plain head that has all
// come with parsePlainHead, any other with net/http's parser and the checks
// net/http's server adds to it.
func (c *conn) readRequest() (*http.Request, error) {
	if c.afterPost {
		c.skipEmptyLines()
	}
	limit := c.srv.maxHeaderBytes() + 4096 // net/http's slack
	if b, _ := c.br.Peek(c.br.Buffered()); len(b) > 0 {
		if req, n, ok := parsePlainHead(c.ctx, b); ok && n <= limit {
			c.br.Discard(n)
			req.RemoteAddr = c.remote
			return req, nil
		}
	}
	c.r.setLimit(int64(limit))
	// The parser takes the framing fields out of the header; checkFraming
	// needs the head as it came. When it has all come, as is usual, the
	// parser reads nothing more and the buffer keeps it; when it has not,
	// what the parser reads is recorded.
	head, _ := c.br.Peek(c.br.Buffered())
	recorded := !headComplete(head)
	if recorded {
		c.r.record(head)
	}
	req, err := http.ReadRequest(c.br)
	if recorded {
		head = c.r.stopRecording()
	}
	if err != nil {
		if c.r.hitLimit {
			return nil, errHeaderTooLarge
		}
		return nil, err
	}
	c.r.setLimit(-1)
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if c.framingClose, err = checkFraming(req, head); err != nil {
		return nil, err
	}
	req.RemoteAddr = c.remote
	return req.WithContext(c.ctx), nil
}

// skipEmptyLines drops the CRs and LFs among the next four bytes that come
// before anything else, as net/http's server does after a POST: some
// clients send a CRLF after a POST's body that its length does not count
// (RFC 9112, section 2.2, lets a server ignore empty lines before a
// request line). Like net/http, it waits for the four bytes, unless the
// first is neither.
func (c *conn) skipEmptyLines() {
	if b, _ := c.br.Peek(1); len(b) == 0 || b[0] != '\r' && b[0] != '\n' {
		return
	}
	b, _ := c.br.Peek(4)
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	c.br.Discard(n)
}

// checkRequest makes the checks net/http's server adds to its parser.
func checkRequest(req *http.Request) error {
	if req.ProtoMajor != 1 {
		return statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// http.ReadRequest has refused more than one Host and taken the
	// one there is (or the authority of an absolute request-target) out
	// of the header into req.Host.
	if req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect {
		return statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if req.Host != "" && !httpguts.ValidHostHeader(req.Host) {
		return statusError{http.StatusBadRequest, "malformed Host header"}
	}
	for name, values := range req.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return statusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return statusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	return nil
}

// statusError is a request refused with a status and a reason.
type statusError struct {
	code   int
	reason string
}

func (e statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.reason) }

var errHeaderTooLarge = errors.New("request header too large")

// reject answers a request that could not be read, if there is anyone to
// answer, and leaves the connection to be closed.
func (c *conn) reject(err error) {
	var se statusError
	switch {
	case errors.Is(err, errHeaderTooLarge):
		se = statusError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}
	case errors.As(err, &se):
		if se == errTransferEncoding10 {
			c.srv.refused(RefuseFraming)
		}
	case quietReadError(err):
		// The client went away or was too slow: nobody to tell.
		return
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		se = statusError{http.StatusNotImplemented, "unsupported transfer encoding (send the body with Content-Length or chunked)"}
	default:
		se = statusError{http.StatusBadRequest, "malformed request (" + parseReason(err) + ")"}
	}
	text := http.StatusText(se.code)
	body := fmt.Sprintf("%d %s: %s\n", se.code, text, se.reason)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		se.code, text, len(body), body)
	c.bw.Flush()
	c.lingeringClose()
}

// parseReason returns what a parser error says is wrong, without the part
// of the request it quotes ("malformed HTTP version \"HTTP/x\"" gives
// "malformed HTTP version"): the answer does not echo what the client sent.
func parseReason(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, ":\""); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// quietReadError reports whether err is the client closing, resetting or
// timing out, rather than sending something wrong.
func quietReadError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lingeringClose closes a connection on which the client may still be
// sending (a body the handler did not read, or a request refused): closing
// with unread data makes the kernel reset the connection, and the client
// could lose the answer. The write side is shut first, and what arrives is
// read and dropped for a moment.
func (c *conn) lingeringClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
	}
}

// connReader is what the connection's bufio.Reader reads from. It bounds
// how much a request's header may take, and it is where the watch for a
// client going away reads: one byte, kept for the next read.
type connReader struct {
	c        *conn
	limit    int64 // bytes that may still be read; <0 none
	hitLimit bool

	mu       sync.Mutex
	armed    bool          // the watch may start
	watching chan struct{} // closed when the watch's read returns; nil: none
	aborting bool
	hasByte  bool
	byteBuf  [1]byte

	// rec, while recording, is what was buffered when the recording
	// began followed by all that has been read since: a request head
	// that had not all come (see conn.readRequest).
	rec       []byte
	recording bool

	// The pacing of a request body (see pace).
	paced       bool
	window      time.Duration // the time a window has
	need        int64         // the bytes it must bring in that time
	got         int64         // the bytes it has brought
	due         time.Time     // when it ends; zero: none open
	lastRead    time.Time     // when the last read returned
	paused      time.Duration // time between reads not yet added to due
	deadlineSet bool          // a window set the connection's deadline
	tooSlow     bool
}

// pace makes the reads of the body about to be read paced: each window of
// reads must bring need bytes within window, counted from its first read,
// or the read that waits past it fails with ErrBodyTooSlow, as does every
// later one. The time between reads is the reader's (the handler's), not
// the client's: once it adds up to a slack, the window is extended by it.
// Nothing is done until a read must wait for the connection, so that a
// body that came with its head costs nothing.
func (r *connReader) pace(window time.Duration, need int64) {
	r.paced, r.window, r.need = true, window, need
	r.due, r.paused, r.deadlineSet, r.tooSlow = time.Time{}, 0, false, false
}

// unpace ends the pacing of a body that has been read, and reports
// whether the connection's read deadline was set by it.
func (r *connReader) unpace() bool {
	set := r.deadlineSet
	r.paced, r.deadlineSet = false, false
	return set
}

// pacedRead is Read for a paced body, which must read from the connection.
func (r *connReader) pacedRead(p []byte) (int, error) {
	if r.tooSlow {
		return 0, ErrBodyTooSlow
	}
	now := time.Now()
	if r.due.IsZero() {
		r.due, r.got, r.paused = now.Add(r.window), 0, 0
		r.c.nc.SetReadDeadline(r.due)
		r.deadlineSet = true
	} else if r.paused += now.Sub(r.lastRead); r.paused >= deadline.Slack(r.window) {
		r.due = r.due.Add(r.paused)
		r.paused = 0
		r.c.nc.SetReadDeadline(r.due)
	}
	n, err := r.c.nc.Read(p)
	r.lastRead = time.Now()
	if r.got += int64(n); r.got >= r.need {
		// The window is done; the next read opens one.
		r.due = time.Time{}
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		r.tooSlow = true
		r.c.srv.refused(RefuseBodyTooSlow)
		return n, ErrBodyTooSlow
	}
	return n, err
}

func (r *connReader) setLimit(n int64) { r.limit, r.hitLimit = n, false }

// record starts a recording with the bytes already buffered.
func (r *connReader) record(buffered []byte) {
	r.rec = append(r.rec[:0], buffered...)
	r.recording = true
}

// stopRecording ends the recording and returns it, valid until the next.
func (r *connReader) stopRecording() []byte {
	r.recording = false
	rec := r.rec
	if cap(r.rec) > 2*readBufferSize {
		// A head this large is rare: its buffer is not kept.
		r.rec = nil
	}
	return rec
}

// Read is only called by the connection's goroutine, never while the watch
// reads (stopWatch waits for it first).
func (r *connReader) Read(p []byte) (int, error) {
	if r.limit == 0 {
		r.hitLimit = true
		return 0, io.EOF
	}
	if r.limit > 0 && int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.hasByte {
		r.hasByte = false
		p[0] = r.byteBuf[0]
		r.count(1)
		if r.recording {
			r.rec = append(r.rec, p[0])
		}
		return 1, nil
	}
	if r.paced {
		return r.pacedRead(p)
	}
	n, err := r.c.nc.Read(p)
	r.count(n)
	if r.recording {
		r.rec = append(r.rec, p[:n]...)
	}
	return n, err
}

func (r *connReader) count(n int) {
	if r.limit > 0 {
		r.limit -= int64(n)
	}
}

// armWatch lets the watch start once the handler has been running for
// Server.WatchAfter: the request body has been read, so what the client
// sends now is the next request or nothing.
//
// Every request arms the watch and almost every one ends long before it
// would start, so arming sets no timer when one is pending: the timer,
// when it fires, looks at when the current request armed it and waits
// for the rest of WatchAfter. A busy connection costs a timer update per
// WatchAfter instead of two per request, and an idle one none.
func (c *conn) armWatch() {
	c.r.mu.Lock()
	c.r.armed = true
	c.r.mu.Unlock()
	c.armedAt.Store(time.Now().UnixNano())
	if !c.timerOn.Load() && c.timerOn.CompareAndSwap(false, true) {
		c.watchTimer.Reset(c.srv.watchAfter())
	}
}

// watchDue runs on the timer's goroutine. It starts the watch of a
// request armed WatchAfter ago, waits on for one armed since, or lets the
// timer go when none is armed.
func (c *conn) watchDue() {
	after := int64(c.srv.watchAfter())
	for {
		at := c.armedAt.Load()
		if at == 0 {
			c.timerOn.Store(false)
			// A request armed after the load saw the timer on and
			// left it to this function: take it back and look again.
			if c.armedAt.Load() != 0 && c.timerOn.CompareAndSwap(false, true) {
				continue
			}
			return
		}
		if wait := at + after - time.Now().UnixNano(); wait > 0 {
			c.watchTimer.Reset(time.Duration(wait))
			return
		}
		if c.armedAt.CompareAndSwap(at, 0) {
			c.timerOn.Store(false)
			c.r.watch()
			return
		}
	}
}

// watch runs on the timer's goroutine (see watchDue): it reads one byte,
// which is the next request's first (kept for it) or the end of the
// connection, which means the client has gone: the request's context is
// cancelled.
func (r *connReader) watch() {
	r.mu.Lock()
	if !r.armed || r.watching != nil || r.hasByte {
		r.mu.Unlock()
		return
	}
	done := make(chan struct{})
	r.watching = done
	r.mu.Unlock()
	n, err := r.c.nc.Read(r.byteBuf[:])
	r.mu.Lock()
	for n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && !r.aborting {
		// The deadline left from the wait for this request has passed
		// (see serve): that says nothing of the client. It is cleared,
		// under the lock, so that stopWatch's abort, which sets a
		// deadline after it has set aborting, cannot be undone by it.
		r.c.nc.SetReadDeadline(time.Time{})
		r.mu.Unlock()
		n, err = r.c.nc.Read(r.byteBuf[:])
		r.mu.Lock()
	}
	if n == 1 {
		r.hasByte = true
	}
	if err != nil && !r.aborting {
		r.c.cancel()
	}
	r.mu.Unlock()
	close(done)
}

// stopWatch ends the watch of the request that has been served, waiting
// for its read to return.
func (c *conn) stopWatch() {
	c.armedAt.Store(0)
	c.r.mu.Lock()
	c.r.armed = false
	done := c.r.watching
	if done != nil {
		c.r.aborting = true
	}
	c.r.mu.Unlock()
	if done == nil {
		return
	}
	c.nc.SetReadDeadline(aLongTimeAgo)
	<-done
	c.nc.SetReadDeadline(time.Time{})
	c.rd.Cleared()
	c.r.mu.Lock()
	c.r.watching, c.r.aborting = nil, false
	c.r.mu.Unlock()
}
