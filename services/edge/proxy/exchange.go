package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

// outgoing is a request as an upstream sends it.
type outgoing struct {
	ctx    context.Context
	method string
	target string // the request-target: the escaped path and the query
	host   string // the Host header
	// header holds end-to-end fields, sent except those drop names and
	// those that frame the message, which the upstream writes itself.
	header http.Header
	drop   func(name string) bool // nil: none dropped
	extra  []field                // sent after header
	// fields holds extra's first fields, so that they take no allocation
	// of their own.
	fields [4]field
	// upgrade is the protocol asked for in an Upgrade header ("": none).
	upgrade string
	close   bool      // ask the backend to close the connection after
	body    io.Reader // nil: none
	length  int64     // of body; -1 for unknown, sent chunked
	trailer http.Header
	// head is the request http.ReadResponse is told of, for the method.
	head *http.Request
	// hints, if set, is sent each 103 Early Hints answer that comes
	// before the final one.
	hints http.ResponseWriter
}

type field struct{ name, value string }

// bodyReadError is a failure to read the body being sent, as opposed to
// one to write it to the backend.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "read request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// roundTrip sends o and reads the answer's headers. The response's body
// must be closed: that returns the connection to the pool when the body
// was read to its end, and closes it otherwise. A request without a body
// that finds its reused connection closed by the backend before anything
// of the answer came is sent once more, on a new connection.
func (u *upstream) roundTrip(o *outgoing) (*http.Response, error) {
	c, err := u.get(o.ctx)
	if err != nil {
		return nil, err
	}
	resp, err := u.exchange(c, o)
	if err == nil || !isRetryable(err) || o.ctx.Err() != nil {
		return resp, err
	}
	if c, err = u.dial(o.ctx); err != nil {
		return nil, err
	}
	return u.exchange(c, o)
}

// retryable marks a failure on a reused connection before any byte of the
// answer came, for a request without a body: the backend closed the
// connection while it was idle, and nothing has reached it.
type retryable struct{ err error }

// isRetryable reports whether err is a retryable. It is a function of its
// own so that the target errors.As needs is allocated on the error path
// only, not on every call of roundTrip.
func isRetryable(err error) bool {
	var r *retryable
	return errors.As(err, &r)
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// exchange sends o on c and reads the answer's headers; c is the
// response body's to return or close.
func (u *upstream) exchange(c *upConn, o *outgoing) (*http.Response, error) {
	// A client that goes away ends the exchange, at any step: closing
	// the connection unblocks a read or write of it.
	stop := h1.CloseOnDone(o.ctx, c.raw)
	fail := func(err error) (*http.Response, error) {
		stop.Stop()
		u.drop(c, true)
		if ctxErr := o.ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if err := writeHead(c.bw, o); err != nil {
		return fail(fmt.Errorf("invalid request: %w", err))
	}
	// The answer's deadline is set before the body goroutine starts,
	// which may move it forward (see bodyWrite.run).
	c.rd.By(c.raw, time.Now(), u.timeout)
	var x *bodyWrite
	if o.body == nil {
		if err := c.sendAwait(); err != nil {
			if c.reused && replayable(o) {
				err = &retryable{err}
			}
			return fail(err)
		}
	} else {
		x = &bodyWrite{c: c, done: make(chan struct{})}
		go x.run(o)
	}

	_, err := c.br.Peek(1)
	if err != nil && c.reused && replayable(o) && !isTimeout(err) {
		return fail(&retryable{err})
	}
	var (
		resp *http.Response
		b    *upBody
	)
	if err == nil {
		resp, b, err = readAnswer(c.br, o.head)
		// Interim answers other than 103 are the edge's alone (it
		// answers the client's Expect itself); the final one follows
		// on the same connection.
		for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if resp.StatusCode == http.StatusEarlyHints && o.hints != nil {
				passEarlyHints(o.hints, resp.Header)
			}
			resp, b, err = readAnswer(c.br, o.head)
		}
	}
	if x != nil {
		if werr := x.headRead(); werr != nil && err != nil {
			// The backend's answer did not come because the body
			// could not be sent: that is the cause to report.
			err = werr
		}
	}
	if err != nil {
		return fail(err)
	}
	if b == nil {
		b = new(upBody)
	}
	*b = upBody{u: u, c: c, write: x, stop: stop}
	if resp.Body == nil {
		// A plain answer (see readAnswer): its body, if any, is the
		// next ContentLength bytes.
		if resp.ContentLength == 0 {
			resp.Body = http.NoBody
		} else {
			b.plain = lengthBody{r: c.br, n: resp.ContentLength}
			resp.Body = &b.plain
		}
	}
	// The deadline bounded the wait for the head; a body still to come
	// may take as long as it takes. An answer that has come whole keeps
	// the deadline: nothing more is read from the socket before the
	// connection's next request (the checks of put and get do not read
	// it, or not through the poller), and leaving it saves timer updates.
	if !whole(resp, c.br) {
		c.rd.Clear(c.raw)
	}
	// After a 101 the connection speaks another protocol: it is only
	// ever hijacked or closed, never pooled.
	b.keep = !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols
	b.body = resp.Body
	b.eof = resp.Body == http.NoBody
	resp.Body = b
	return resp, nil
}

// readAnswer reads an answer's head: a plain one (see parsePlainResponse)
// that has all come, leaving its Body for exchange to set in the upBody it
// returns with it, and any other
// with http.ReadResponse, which gives no body to an answer that has none
// (to a HEAD; 1xx, 204 and 304) whatever its fields say.
//
// An answer whose body is framed two ways (a Transfer-Encoding with a
// Content-Length, or in HTTP/1.0) is read as net/http reads it, and its
// connection closed after it (resp.Close), as RFC 9112, section 6.3 has
// it: such framing is a sign of response splitting, and the backend and
// the edge may not agree on where the answer ends.
func readAnswer(br *bufio.Reader, req *http.Request) (*http.Response, *upBody, error) {
	method := http.MethodGet
	if req != nil {
		method = req.Method
	}
	b, _ := br.Peek(br.Buffered())
	if len(b) > 0 {
		if a, n, ok := parsePlainResponse(b, method); ok {
			br.Discard(n)
			a.resp.Request = req
			return &a.resp, &a.body, nil
		}
	}
	// net/http drops the framing fields it does not follow: they are
	// looked for before it reads the head.
	length, coding, known := httpfield.Framing(b)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, err
	}
	chunked := len(resp.TransferEncoding) > 0
	if chunked && (length || !known) || resp.ProtoMinor == 0 && (coding || !known) {
		resp.Close = true
	}
	return resp, nil, nil
}

// whole reports whether all of resp has been read into br: it has no body,
// or one of known length that br holds. A 101 is never whole: the
// connection goes on in another protocol.
func whole(resp *http.Response, br *bufio.Reader) bool {
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		return false
	case resp.Body == http.NoBody:
		return true
	}
	return resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && resp.ContentLength <= int64(br.Buffered())
}

// replayable reports whether a request may be sent again after its
// connection broke before any answer: one without a body whose method is
// idempotent and safe to repeat (or that carries an idempotency key), as
// net/http decides. A POST may have been acted on before the backend
// closed, and a proxy must not send it twice (RFC 9110, section 9.2.2).
func replayable(o *outgoing) bool {
	if o.body != nil {
		return false
	}
	switch o.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := o.header["Idempotency-Key"]
	_, xkey := o.header["X-Idempotency-Key"]
	return key || xkey
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeHead writes the request line and the header fields.
func writeHead(bw *bufio.Writer, o *outgoing) error {
	if !httpguts.ValidHeaderFieldName(o.method) {
		return fmt.Errorf("method %q is not a valid token", o.method)
	}
	if o.target == "" || strings.IndexFunc(o.target, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("request target %q is empty or has spaces or control characters", o.target)
	}
	bw.WriteString(o.method)
	bw.WriteByte(' ')
	bw.WriteString(o.target)
	bw.WriteString(" HTTP/1.1\r\n")
	if err := writeField(bw, "Host", o.host); err != nil {
		return err
	}
	for name, values := range o.header {
		if framing(name) || o.drop != nil && o.drop(name) {
			continue
		}
		for _, v := range values {
			if err := writeField(bw, name, v); err != nil {
				return err
			}
		}
	}
	for _, f := range o.extra {
		if err := writeField(bw, f.name, f.value); err != nil {
			return err
		}
	}
	switch {
	case o.upgrade != "":
		bw.WriteString("Connection: Upgrade\r\n")
		if err := writeField(bw, "Upgrade", o.upgrade); err != nil {
			return err
		}
	case o.close:
		bw.WriteString("Connection: close\r\n")
	}
	switch {
	case o.body != nil && o.length < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		for name := range o.trailer {
			if err := writeField(bw, "Trailer", name); err != nil {
				return err
			}
		}
	case o.body != nil && o.length > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(o.length, 10))
		bw.WriteString("\r\n")
	case o.method == http.MethodPost || o.method == http.MethodPut || o.method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// framing reports whether name is a field the upstream writes itself.
func framing(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Upgrade":
		return true
	}
	return false
}

// writeField writes "name: value", with the controls of the value as spaces
// (see httpfield.SpaceControls), and refuses a name that is not a token.
func writeField(bw *bufio.Writer, name, value string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("header field name %q is not a valid token", name)
	}
	bw.WriteString(name)
	bw.WriteString(": ")
	value = httpfield.SpaceControls(value)
	bw.WriteString(value)
	_, err := bw.WriteString("\r\n")
	return err
}

// bodyWrite sends a request body beside the reading of the answer, so that
// a backend that answers before it has read the whole body (or streams its
// answer while the body streams in) is not held up.
type bodyWrite struct {
	c    *upConn
	done chan struct{}

	mu     sync.Mutex
	err    error // set before done is closed
	headIn bool  // the answer's headers have been read (or failed)
}

// writeGrace is how long the answer's headers are waited for after a body
// could not be written to the backend: a backend that refuses a body
// usually answers why, and closes, before reading it all.
const writeGrace = 100 * time.Millisecond

func (x *bodyWrite) run(o *outgoing) {
	err := writeBody(x.c.bw, o.body, o.length, o.trailer)
	x.mu.Lock()
	x.err = err
	if err != nil && !x.headIn {
		var re *bodyReadError
		if errors.As(err, &re) {
			// Nothing more can be sent: end the exchange now.
			x.c.raw.SetReadDeadline(time.Now())
		} else {
			x.c.raw.SetReadDeadline(time.Now().Add(writeGrace))
		}
	}
	x.mu.Unlock()
	close(x.done)
}

// headRead records that the answer's headers were read (or failed) and
// returns the body's error so far.
func (x *bodyWrite) headRead() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.headIn = true
	return x.err
}

// finished reports whether the body was sent whole. A body still being
// sent once the answer has ended is waited for only briefly: the backend
// has read it (all but the last write's return, usually), or it answered
// without reading it and never will.
func (x *bodyWrite) finished() bool {
	select {
	case <-x.done:
		return x.err == nil
	default:
	}
	t := time.NewTimer(finishWait)
	defer t.Stop()
	select {
	case <-x.done:
		return x.err == nil
	case <-t.C:
		return false
	}
}

// finishWait bounds the wait in finished.
const finishWait = 5 * time.Millisecond

func writeBody(bw *bufio.Writer, body io.Reader, length int64, trailer http.Header) error {
	src := &sourceReader{r: body}
	if length >= 0 {
		n, err := bw.ReadFrom(io.LimitReader(src, length))
		if src.err != nil {
			return &bodyReadError{src.err}
		}
		if err != nil {
			return err
		}
		if n != length {
			return &bodyReadError{fmt.Errorf("the body ended after %d of the %d bytes announced", n, length)}
		}
		return bw.Flush()
	}
	// A body of unknown length may be a stream: each piece is sent as it
	// comes.
	cw := httputil.NewChunkedWriter(flushWriter{bw})
	buf := copyBuffers.get()
	_, err := io.CopyBuffer(cw, src, *buf)
	copyBuffers.put(buf)
	if src.err != nil {
		return &bodyReadError{src.err}
	}
	if err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	for name, values := range trailer {
		for _, v := range values {
			if err := writeField(bw, name, v); err != nil {
				return err
			}
		}
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// sourceReader remembers a read error of the body being sent.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// flushWriter flushes after every write.
type flushWriter struct{ bw *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.bw.Write(p)
	if err == nil {
		err = f.bw.Flush()
	}
	return n, err
}

// upBody is the body of an upstream's answer.
type upBody struct {
	u     *upstream
	c     *upConn
	body  io.ReadCloser
	write *bodyWrite      // nil: the request had no body
	stop  h1.Registration // closes c if the client goes
	keep  bool            // the backend did not ask to close
	eof   bool
	// plain is body for a plain answer (see readAnswer), kept here to
	// take no allocation of its own.
	plain lengthBody
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("read of a closed response body")
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// Close returns the connection to the pool if the answer was read to its
// end, the request was sent whole and the backend did not ask to close;
// otherwise it closes the connection.
func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	// stop is false once the client has gone and c is closed.
	if b.stop.Stop() && b.eof && b.keep && (b.write == nil || b.write.finished()) {
		b.u.put(b.c)
		return nil
	}
	b.u.drop(b.c, true)
	return nil
}

// hijack takes the connection of a 101 answer for the upgraded protocol;
// the pool never sees it again, but counts it against its cap until it is
// closed.
func (b *upBody) hijack() (net.Conn, *bufio.Reader) {
	b.done = true
	b.stop.Stop()
	return &hijacked{Conn: b.c.nc, u: b.u}, b.c.br
}

// hijacked is an upgraded connection, which gives up its place under its
// pool's cap when first closed.
type hijacked struct {
	net.Conn
	u    *upstream
	once sync.Once
}

func (h *hijacked) Close() error {
	err := h.Conn.Close()
	h.once.Do(h.u.release)
	return err
}

// ReadFrom lets io.Copy to the connection use the TCP connection's own
// (splice, for a plain backend), which the wrapping would hide.
func (h *hijacked) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := h.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{h.Conn}, r)
}
