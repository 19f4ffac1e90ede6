package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/internal/httpfield"
	"github.com/certbind/certbind/services/edge/state"
)

// forward sends the request to u through the pool for m and streams the
// answer back.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, d *state.Deployment, route *state.Route, u dest, m tlsMaterial) {
	backend := u.origin
	p := h.acquire(u.backend, backend, d.Account, m, false)
	var (
		start   = time.Now()
		status  int
		latency time.Duration
	)
	// Deferred so that they run when a response whose body could not be
	// copied is aborted, which is done by panicking.
	defer func() {
		h.pools.release(p)
		h.observer.Request(route.Path, status, latency)
		m.countRequest()
	}()
	o := &outgoing{
		ctx:    r.Context(),
		method: r.Method,
		target: u.uri,
		host:   u.backend.Host,
		header: r.Header,
		drop:   requestDrop(r.Header),
		head:   r,
	}
	o.extra = forwardedFields(o.fields[:0], r, h.hop.entry(r))
	if h.tracer != nil {
		end := h.trace(o, r, d, route, backend)
		defer func() { end(status) }()
	}
	// The server gives a request without a body a length of 0; one of
	// unknown length (chunked) has -1, and only it may have trailers.
	if r.ContentLength != 0 {
		o.body, o.length = r.Body, r.ContentLength
		if r.ContentLength < 0 && len(r.Trailer) > 0 {
			o.body, o.trailer = sendTrailer(r)
		}
	}
	o.upgrade = upgradeType(r.Header)
	o.hints = w
	resp, err := p.up.roundTrip(o)
	latency = time.Since(start)
	if err != nil {
		status = h.failed(w, r, d, route, backend, m, err)
		return
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	if status == http.StatusSwitchingProtocols {
		if err := h.switchProtocols(w, o.upgrade, resp); err != nil {
			status = http.StatusBadGateway
			m.countFailure(codeBackendUpgrade)
			h.log.Warn("backend upgrade failed", "deployment", d.ID, "route", route.Path, "backend", backend, "cause", err)
			writeError(w, &apiError{status: status, Code: codeBackendUpgrade, Route: route.Path,
				Message: fmt.Sprintf("route %q: the backend %s switched protocols and the edge could not follow (%v)", route.Path, backend, err)})
		}
		return
	}
	header := w.Header()
	copyEndToEnd(header, resp.Header)
	// The trailers the backend announces are announced to the client;
	// any others it sends turn up in resp.Trailer only after the body.
	var announced []string
	if n := len(resp.Trailer); n > 0 {
		announced = make([]string, 0, n)
		for name := range resp.Trailer {
			announced = append(announced, name)
		}
		header["Trailer"] = []string{strings.Join(announced, ", ")}
	}
	w.WriteHeader(status)
	if err := copyBody(w, resp.Body, streaming(resp)); err != nil {
		if isClientWriteError(err) || r.Context().Err() != nil {
			status = statusClientGone
			h.log.Debug("client went away", "deployment", d.ID, "route", route.Path, "backend", backend)
			return
		}
		h.log.Warn("backend response body failed", "deployment", d.ID, "route", route.Path, "backend", backend, "cause", err)
		// The client must not take a cut-off body for a whole one: the
		// server closes its connection without ending the response.
		panic(http.ErrAbortHandler)
	}
	for name, values := range resp.Trailer {
		switch {
		case hopByHop(name):
		case slices.Contains(announced, name):
			header[name] = values
		default:
			header[http.TrailerPrefix+name] = values
		}
	}
}

// passEarlyHints sends a backend's 103 to the client: with the header as
// it is, which is then cleared for the final answer.
func passEarlyHints(w http.ResponseWriter, h http.Header) {
	dst := w.Header()
	copyEndToEnd(dst, h)
	w.WriteHeader(http.StatusEarlyHints)
	clear(dst)
}

// failed answers a request the backend could not be asked or did not
// answer, and returns the status reported for it.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, d *state.Deployment, route *state.Route, backend string, m tlsMaterial, err error) int {
	if r.Context().Err() != nil {
		h.log.Debug("client went away", "deployment", d.ID, "route", route.Path, "backend", backend)
		return statusClientGone
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		h.observer.Refused(codeBodyTooLarge)
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge, Route: route.Path,
			Message: fmt.Sprintf("the request body is over the edge's limit of %d bytes", tooLarge.Limit)})
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, h1.ErrBodyTooSlow) {
		h.observer.Refused(codeBodyTooSlow)
		writeError(w, &apiError{status: http.StatusRequestTimeout, Code: codeBodyTooSlow, Route: route.Path,
			Message: fmt.Sprintf("the request body came too slowly (%v); send it at a steady pace", err)})
		return http.StatusRequestTimeout
	}
	var body *bodyReadError
	if errors.As(err, &body) {
		h.log.Debug("request body failed", "deployment", d.ID, "route", route.Path, "backend", backend, "cause", err)
		writeError(w, &apiError{status: http.StatusBadRequest, Code: codeBadBody, Route: route.Path,
			Message: fmt.Sprintf("the request body could not be read (%v); send it again whole", body.err)})
		return http.StatusBadRequest
	}
	f := classify(err)
	if refusal(f.code) {
		h.observer.Refused(f.code)
	}
	m.countFailure(f.code)
	h.log.Warn("backend request failed", "deployment", d.ID, "route", route.Path, "backend", backend,
		"certificate", route.MTLSCertificateName, "error", f.code, "cause", err)
	writeError(w, backendAPIError(f, route.Path, backend, route.MTLSCertificateName, err))
	return f.status
}

// clientWriteError is a failure to write to the client.
type clientWriteError struct{ err error }

// isClientWriteError reports whether err is a clientWriteError; see
// isRetryable for why it is a function.
func isClientWriteError(err error) bool {
	var gone *clientWriteError
	return errors.As(err, &gone)
}

func (e *clientWriteError) Error() string { return "write to client: " + e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

// copyBody copies a response body to the client. A stream (flush set) is
// passed on piece by piece as it comes, each flushed. Any other body is
// passed on a full buffer at a time: a read from the backend gives at most
// one TLS record (16 KiB), and writing each on its own would cost the
// client's connection a system call per record.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	buf := copyBuffers.get()
	defer copyBuffers.put(buf)
	var flusher http.Flusher
	if flush {
		flusher, _ = w.(http.Flusher)
	}
	for {
		var n int
		var err error
		if flush {
			n, err = body.Read(*buf)
		} else {
			n, err = fill(body, *buf)
		}
		if n > 0 {
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				return &clientWriteError{werr}
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fill reads into buf until it is full or the body ends or fails.
func fill(body io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// streaming reports whether a response is passed on as it comes: one of
// unknown length (chunked, or ended by a close) may be a stream, and an
// event stream is one whatever it announces. A response of known length
// goes through the server's buffer.
func streaming(resp *http.Response) bool {
	if resp.ContentLength < 0 {
		return true
	}
	ct := resp.Header.Get("Content-Type")
	return len(ct) >= len("text/event-stream") && strings.EqualFold(ct[:len("text/event-stream")], "text/event-stream")
}

// hopByHop reports whether a field is about one connection (RFC 9110,
// section 7.6.1) and so is never passed on. Te and Trailer are among them
// because the edge decides for itself what it accepts from the backend.
func hopByHop(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// dropRequestField reports whether a field of a client's header is never
// passed on: a hop-by-hop, framing or forwarding field, in any spelling
// (see policy_fields.go).
func dropRequestField(name string) bool { return requestDropped.has(name) }

// requestDrop returns what of a client's header is not passed on: what
// dropRequestField drops, and the fields the Connection field names.
func requestDrop(h http.Header) func(string) bool {
	named := connectionNamed(h)
	if len(named) == 0 {
		return dropRequestField
	}
	return func(name string) bool {
		if dropRequestField(name) {
			return true
		}
		for _, n := range named {
			if n == name {
				return true
			}
		}
		return false
	}
}

// connectionNamed returns the fields h's Connection field names, in
// canonical form.
func connectionNamed(h http.Header) []string {
	var named []string
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(tok))
			}
		}
	}
	return named
}

// copyEndToEnd copies to dst the fields of a backend's header that are
// passed on to the client.
func copyEndToEnd(dst, src http.Header) {
	named := connectionNamed(src)
	for name, values := range src {
		if hopByHop(name) || slices.Contains(named, name) {
			continue
		}
		dst[name] = values
	}
}

// forwardedFields appends to fields the fields the edge sets: the
// X-Forwarded-* fields (the client's address, the host it asked for and
// the scheme it used) and via, the edge's Via entry. The client's Via, if
// any, is sent as it came, before the edge's: a field sent on several
// lines is one list, in order (RFC 9110, section 5.3).
func forwardedFields(fields []field, r *http.Request, via string) []field {
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		fields = append(fields, field{"X-Forwarded-For", ip})
	}
	fields = append(fields, field{"X-Forwarded-Host", r.Host}, field{"X-Forwarded-Proto", proto}, field{"Via", via})
	// A client that can take trailers may say so to the backend: the
	// edge passes them on.
	for _, v := range r.Header["Te"] {
		if httpfield.HasToken(v, "trailers") {
			fields = append(fields, field{"Te", "trailers"})
			break
		}
	}
	return fields
}

// upgradeType returns the protocol a request asks to switch to, or "".
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		if httpfield.HasToken(v, "upgrade") {
			return h.Get("Upgrade")
		}
	}
	return ""
}

// switchProtocols passes on a backend's 101 answer and then joins the
// client's connection to the backend's, in both directions, until either
// side closes.
func (h *Handler) switchProtocols(w http.ResponseWriter, asked string, resp *http.Response) error {
	got := resp.Header.Get("Upgrade")
	if asked == "" || !strings.EqualFold(got, asked) {
		return fmt.Errorf("it answered 101 with Upgrade %q to a request for %q", got, asked)
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("take over the client's connection: %w", err)
	}
	back, backR := resp.Body.(*upBody).hijack()
	defer client.Close()
	defer back.Close()
	header := http.Header{}
	copyEndToEnd(header, resp.Header)
	header["Connection"] = []string{"Upgrade"}
	header["Upgrade"] = []string{got}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	header.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return nil // the client has gone: nothing to answer
	}
	var wg sync.WaitGroup
	join := func(dst net.Conn, src *bufio.Reader) {
		defer wg.Done()
		io.Copy(dst, src)
		// Either side closing ends both.
		dst.Close()
	}
	wg.Add(2)
	go join(back, brw.Reader)
	go join(client, backR)
	wg.Wait()
	return nil
}
