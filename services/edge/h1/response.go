package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

// response is the http.ResponseWriter of one request. A connection reuses
// one response, with its header map, for all its requests (see
// newResponse): a handler must not use it after it returns, as with
// net/http.
type response struct {
	c    *conn
	req  *http.Request
	body *requestBody

	header      http.Header
	status      int
	wroteHeader bool // the final status is decided
	headSent    bool // the head is written to the connection's buffer
	started     bool // the response's first byte is written (see startWriting)
	noBody      bool // the status or the method allows no body
	clen        int64
	written     int64
	chunked     bool
	trailers    []string // declared in the Trailer field
	closeAfter  bool
	bodyDone    bool // set by finish
	http10      bool
	err         error

	// emptyBody is body for a request without one. The handler never
	// sees it (the request's Body is http.NoBody), so it can be reused; a
	// body the handler reads is allocated per request, since the handler
	// may read it from another goroutine even after it has returned.
	emptyBody requestBody
}

// newResponse readies c's response for req.
func newResponse(c *conn, req *http.Request) *response {
	w := c.resp
	if w == nil {
		w = new(response)
		c.resp = w
	}
	header := w.header
	if header == nil {
		header = make(http.Header)
	} else {
		clear(header)
	}
	*w = response{c: c, req: req, header: header, clen: -1}
	w.http10 = !req.ProtoAtLeast(1, 1)
	// HTTP/1.0 closes after each answer unless the client asks to keep
	// the connection; HTTP/1.1 keeps it unless the client asks to close.
	// The first Connection field is read as net/http's server reads it
	// (see hasLooseToken), so that the two serve the same requests on a
	// connection.
	var conn string
	if v := req.Header["Connection"]; len(v) > 0 {
		conn = v[0]
	}
	if w.http10 {
		w.closeAfter = !hasLooseToken(conn, "keep-alive")
	} else {
		w.closeAfter = req.Close || hasLooseToken(conn, "close")
	}
	if req.Body == nil || req.Body == http.NoBody {
		w.emptyBody = requestBody{c: c, w: w, r: req.Body, eof: true}
		w.body = &w.emptyBody
		c.armWatch()
	} else {
		w.body = &requestBody{c: c, w: w, r: req.Body}
		req.Body = w.body
	}
	return w
}

// checkExpect handles an Expect field: 100-continue is answered when the
// handler first reads the body; anything else is refused with 417.
func (w *response) checkExpect() bool {
	exp := w.req.Header.Get("Expect")
	switch {
	case exp == "":
		return true
	case strings.EqualFold(exp, "100-continue"):
		// HTTP/1.0 has no interim answers: its Expect is ignored
		// (RFC 9110, section 10.1.1).
		w.body.expect = !w.body.eof && !w.http10
		return true
	}
	w.closeAfter = true
	w.header.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusExpectationFailed)
	io.WriteString(w, "417 Expectation Failed: only Expect: 100-continue is supported\n")
	return false
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.c.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.status, w.wroteHeader = code, true
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified || code < 200 ||
		w.req.Method == http.MethodHead
	if v := w.header["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.clen = n
		} else {
			delete(w.header, "Content-Length")
		}
	} else if len(v) > 1 {
		delete(w.header, "Content-Length")
	}
	for _, v := range w.header["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			switch name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name {
			case "", "Content-Length", "Transfer-Encoding", "Trailer":
				// Framing is never a trailer; the field keeps its
				// place in the head.
			default:
				w.trailers = append(w.trailers, name)
			}
		}
	}
	if hasToken(w.header["Connection"], "close") {
		w.closeAfter = true
	}
}

// writeInterim sends a 1xx answer (103 Early Hints, say) with the header
// as it is; HTTP/1.0 clients get none.
func (w *response) writeInterim(code int) {
	if w.http10 || w.headSent {
		return
	}
	w.startWriting()
	bw := w.c.bw
	writeStatusLine(bw, code)
	writeFields(bw, w.header, nil)
	bw.WriteString("\r\n")
	w.err = bw.Flush()
}

func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		// An empty chunk would end a chunked body.
		return 0, nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			w.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.clen >= 0 && w.written+int64(len(p)) > w.clen {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.headSent {
		if w.clen < 0 && len(w.c.pending)+len(p) <= pendingMax {
			w.c.pending = append(w.c.pending, p...)
			return len(p), nil
		}
		w.sendHead(false)
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends what is buffered; a body of unknown length is then sent
// chunked.
func (w *response) Flush() {
	if w.c.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(false)
	}
	if w.err == nil {
		w.err = w.c.bw.Flush()
	}
}

// FlushError is Flush with its error, for http.ResponseController.
func (w *response) FlushError() error {
	w.Flush()
	return w.err
}

// Hijack hands the connection over; the server forgets it.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.headSent {
		return nil, nil, errors.New("h1: hijack after the response head was sent")
	}
	w.c.stopWatch()
	w.c.hijacked = true
	// What the hijacker reads of a body is not paced.
	w.c.r.unpace()
	w.c.nc.SetDeadline(time.Time{})
	w.c.rd.Cleared()
	// From here the connection is the hijacker's: Shutdown and Close
	// leave it alone.
	w.c.srv.connDone(w.c)
	// The head has not been sent and every answer before it, interim
	// ones included, was flushed, so nothing should be buffered; should
	// anything be, it goes before what the hijacker writes.
	w.c.bw.Flush()
	return w.c.nc, bufio.NewReadWriter(w.c.br, bufio.NewWriterSize(checkWriter{w.c}, writeBufferSize)), nil
}

// sendHead writes the status line and the header, choosing how the body
// is framed. done says the handler has returned, so that what is pending
// is the whole body.
func (w *response) sendHead(done bool) {
	w.startWriting()
	w.headSent = true
	h := w.header
	delete(h, "Transfer-Encoding")
	switch {
	case w.noBody:
		if w.status == http.StatusNoContent || w.status < 200 {
			delete(h, "Content-Length")
		}
	case w.clen >= 0:
	case done && len(w.trailers) == 0 && !hasPrefixed(h):
		w.clen = int64(len(w.c.pending))
		h["Content-Length"] = []string{strconv.Itoa(len(w.c.pending))}
	case !w.http10:
		w.chunked = true
		h["Transfer-Encoding"] = []string{"chunked"}
	default:
		// An HTTP/1.0 client learns where the body ends from the close.
		w.closeAfter = true
	}
	if w.c.srv.isClosing() {
		w.closeAfter = true
	}
	delete(h, "Connection")
	switch {
	case w.closeAfter:
		h["Connection"] = []string{"close"}
	case w.http10:
		h["Connection"] = []string{"keep-alive"}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
	bw := w.c.bw
	writeStatusLine(bw, w.status)
	writeFields(bw, h, w.trailers)
	bw.WriteString("\r\n")
	if len(w.c.pending) > 0 {
		p := w.c.pending
		w.c.pending = w.c.pending[:0]
		w.writeBody(p)
	}
}

// startWriting is called before the response's first byte goes to the
// connection: from then on a 100 Continue is not sent (the body may be read
// on another goroutine, which sends it).
func (w *response) startWriting() {
	if w.started {
		return
	}
	b := w.body
	b.mu.Lock()
	w.started = true
	b.expect = false
	b.mu.Unlock()
}

func (w *response) writeBody(p []byte) error {
	if w.err != nil {
		return w.err
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, w.err = bw.WriteString("\r\n")
		return w.err
	}
	_, w.err = bw.Write(p)
	return w.err
}

// finish ends the response once the handler has returned, and leaves its
// last bytes in the connection's buffer (see flush).
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.bodyDone = w.body.detach(); !w.bodyDone {
		// What is left of the body would be read as the next request.
		w.closeAfter = true
	}
	if !w.headSent {
		w.sendHead(true)
	}
	if w.chunked && w.err == nil {
		bw := w.c.bw
		bw.WriteString("0\r\n")
		for _, name := range w.trailers {
			for _, v := range w.header[name] {
				writeField(bw, name, v)
			}
		}
		for name, values := range w.header {
			if t, ok := strings.CutPrefix(name, http.TrailerPrefix); ok {
				for _, v := range values {
					writeField(bw, http.CanonicalHeaderKey(t), v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if w.clen >= 0 && w.written < w.clen && !w.noBody {
		// The body is shorter than announced: only a close tells the
		// client that it is cut off.
		w.closeAfter = true
	}
	if w.err != nil {
		w.closeAfter = true
	}
	w.c.pending = w.c.pending[:0]
}

// flush sends what finish left in the connection's buffer, when the
// connection is to close after it. One kept open sends it as it begins its
// wait for the next request (see conn.sendAwait).
func (w *response) flush() {
	if w.err == nil {
		w.err = w.c.bw.Flush()
	}
}

// requestBody is a request's body as the handler reads it. A handler may
// read it from another goroutine (the proxy sends it to the backend from
// one), even after it has returned; so the body is detached from the
// connection when the handler returns, and a read that ends after that
// changes nothing of the connection's.
type requestBody struct {
	c *conn
	w *response
	r io.ReadCloser

	mu       sync.Mutex
	expect   bool // 100 Continue is still to be sent
	eof      bool
	closed   bool
	detached bool
	reading  bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.closed || b.detached:
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	case b.eof:
		b.mu.Unlock()
		return 0, io.EOF
	}
	if b.expect {
		// The response has not started (startWriting clears expect
		// under this lock), so nothing else writes now.
		b.expect = false
		bw := b.c.bw
		bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		bw.Flush()
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	b.reading = false
	if err == io.EOF && !b.detached {
		b.eof = true
		b.c.armWatch()
	}
	b.mu.Unlock()
	return n, err
}

// Close ends the handler's reading; the server decides what becomes of
// the rest.
func (b *requestBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// detach ends the body's use by the handler and reports whether it was
// read to its end, so that the next request starts where it ends.
func (b *requestBody) detach() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	return b.eof && !b.reading
}

// writeStatusLine writes "HTTP/1.1 code text".
func writeStatusLine(bw *outBuf, code int) {
	if code >= 100 && code < 600 {
		bw.WriteString(statusLines[code])
		return
	}
	bw.WriteString(statusLine(code))
}

// statusLines holds the status line of every code from 100 to 599.
var statusLines = func() (lines [600]string) {
	for code := 100; code < 600; code++ {
		lines[code] = statusLine(code)
	}
	return lines
}()

func statusLine(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
}

// writeFields writes a header, less the trailer fields named in skip and
// the trailer-prefixed keys.
func writeFields(bw *outBuf, h http.Header, skip []string) {
	for name, values := range h {
		if strings.HasPrefix(name, http.TrailerPrefix) || slices.Contains(skip, name) {
			continue
		}
		for _, v := range values {
			writeField(bw, name, v)
		}
	}
}

// writeField writes one field. A field whose name is invalid is left out,
// and the controls of a value are sent as spaces (see
// httpfield.SpaceControls): either would otherwise let the value forge
// fields of its own.
func writeField(bw *outBuf, name, value string) {
	if !httpguts.ValidHeaderFieldName(name) {
		return
	}
	value = httpfield.SpaceControls(value)
	bw.WriteString(name)
	bw.WriteString(": ")
	bw.WriteString(value)
	bw.WriteString("\r\n")
}

// hasPrefixed reports whether h holds a trailer set with
// http.TrailerPrefix, which only a chunked body can carry.
func hasPrefixed(h http.Header) bool {
	for name := range h {
		if strings.HasPrefix(name, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// hasToken reports whether one of the comma-separated lists holds tok, in
// any case.
func hasToken(lists []string, tok string) bool {
	for _, v := range lists {
		if httpfield.HasToken(v, tok) {
			return true
		}
	}
	return false
}

// hasLooseToken reports whether v holds tok as net/http's server looks for
// the close and keep-alive options of a request's Connection field:
// anywhere, in any ASCII case, with the ends of v, spaces, tabs or commas
// either side ("keep-alive 5" holds keep-alive). The parser's own test of
// close, which sets Request.Close, is stricter; net/http's server closes if
// either finds it, and keeps an HTTP/1.0 connection if this one finds
// keep-alive, close or not.
func hasLooseToken(v, tok string) bool {
	boundary := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for i := 0; i+len(tok) <= len(v); i++ {
		end := i + len(tok)
		if (i == 0 || boundary(v[i-1])) && (end == len(v) || boundary(v[end])) && asciiEqualFold(v[i:end], tok) {
			return true
		}
	}
	return false
}

// asciiEqualFold reports whether a and b are equal, ignoring the case of
// ASCII letters only.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// httpDate returns the Date field's value for now, formatted once a
// second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &cachedDate{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}

type cachedDate struct {
	sec  int64
	text string
}

var dateCache atomic.Pointer[cachedDate]
