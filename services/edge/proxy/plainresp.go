package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

// plainAnswer is a plain answer's response and the state of its body in
// the exchange (see exchange), which live exactly as long: one allocation
// for the two.
type plainAnswer struct {
	resp http.Response
	body upBody
}

// parsePlainResponse parses the answer head at the start of b when it is of
// the plain kind most answers are, and returns the response, without its
// Body, in a plainAnswer, and the head's length. Plain means: all of the head is in b; the
// status line is "HTTP/1.1 NNN reason" with a final status that has a body
// (200-599 but 204 and 304) and a reason of visible ASCII, spaces and tabs;
// every field line is "Name: value" with a token name and a value of
// visible ASCII, spaces and tabs; exactly one Content-Length, of digits;
// no Transfer-Encoding, Trailer, Connection or Pragma field; and the
// request was not a HEAD. So the body is the next ContentLength bytes and
// the connection stays open.
//
// For such a head the response is what http.ReadResponse makes of it
// (FuzzPlainResponse holds the two to that), in five allocations
// however many fields there are (the response with the exchange's state of
// its body, the head string, the header map and its value slices), where
// net/http's parser takes a string per value and a body reader besides. ok is false for any other head, which the caller
// reads with http.ReadResponse.
func parsePlainResponse(b []byte, method string) (a *plainAnswer, n int, ok bool) {
	if method == http.MethodHead {
		return nil, 0, false
	}
	end := bytes.Index(b, httpfield.HeadEnd)
	if end < 0 {
		return nil, 0, false
	}
	line, rest, _ := bytes.Cut(b[:end+2], httpfield.CRLF)
	code, ok := parseStatusLine(line)
	if !ok {
		return nil, 0, false
	}
	lengths := 0
	var length int64
	fields, ok := httpfield.Fields(rest, func(name, value []byte) bool {
		switch {
		case httpfield.NameIs(name, "Content-Length"):
			lengths++
			var ok bool
			length, ok = parseLength(value)
			return ok
		case httpfield.NameIs(name, "Transfer-Encoding"), httpfield.NameIs(name, "Trailer"),
			httpfield.NameIs(name, "Connection"), httpfield.NameIs(name, "Pragma"):
			return false
		}
		return true
	})
	if !ok || lengths != 1 {
		return nil, 0, false
	}
	head := httpfield.NewHead(b, end)
	h, _ := head.Header(rest, fields, "")
	a = &plainAnswer{resp: http.Response{
		Status:        head.Part(line[len("HTTP/1.1 "):]),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: length,
	}}
	return a, end + len(httpfield.HeadEnd), true
}

// parseStatusLine takes "HTTP/1.1 NNN reason" (or "HTTP/1.1 NNN") with a
// final status that has a body and a reason of visible ASCII, spaces and
// tabs.
func parseStatusLine(line []byte) (code int, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return 0, false
	}
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return 0, false
	}
	if !httpfield.IsText(rest[3:]) {
		return 0, false
	}
	return code, true
}

// parseLength takes a Content-Length of 1 to 18 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// lengthBody is the body of a plain answer: the next n bytes of r. It
// ends with io.EOF as its last bytes come, and with io.ErrUnexpectedEOF
// if the connection ends before, as net/http's body does.
type lengthBody struct {
	r *bufio.Reader
	n int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	switch {
	case err == io.EOF && b.n > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.n == 0:
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
