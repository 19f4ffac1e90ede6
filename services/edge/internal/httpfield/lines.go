package httpfield

import (
	"bytes"
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"
)

// The helpers below parse the plain heads of h1 and the proxy (see
// h1.parsePlainHead): they accept only the common, unambiguous form, and
// their callers leave anything else to net/http's parser.

// CRLF ends a line of a head; HeadEnd ends a head.
var (
	CRLF    = []byte("\r\n")
	HeadEnd = []byte("\r\n\r\n")
)

// SplitField splits the field line "Name: value" into a token name and the
// value without its surrounding spaces and tabs. It refuses a line whose
// name is not a token (or is empty, or is followed by a space), and one
// whose value holds any byte other than visible ASCII, space and tab: a
// control, a bare CR or LF, DEL or obs-text.
func SplitField(l []byte) (name, value []byte, ok bool) {
	name, value, ok = bytes.Cut(l, []byte(":"))
	if !ok || len(name) == 0 || !IsToken(name) {
		return nil, nil, false
	}
	if !IsText(value) {
		return nil, nil, false
	}
	return name, bytes.Trim(value, " \t"), true
}

// IsText reports whether b holds only visible ASCII, spaces and tabs: no
// control (see SpaceControls), no DEL and no obs-text.
func IsText(b []byte) bool {
	for _, c := range b {
		if isControl(c) || c >= 0x80 {
			return false
		}
	}
	return true
}

// Fields calls f with the name and value of each field line in lines (each
// ending in CRLF) and returns how many there are. It stops, with ok false,
// at a line SplitField refuses or when f returns false.
func Fields(lines []byte, f func(name, value []byte) bool) (n int, ok bool) {
	for r := lines; len(r) > 0; n++ {
		var l []byte
		l, r, _ = bytes.Cut(r, CRLF)
		name, value, ok := SplitField(l)
		if !ok || !f(name, value) {
			return n, false
		}
	}
	return n, true
}

// IsToken reports whether b is made of token characters (RFC 9110,
// section 5.6.2).
func IsToken(b []byte) bool {
	for _, c := range b {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

// NameIs reports whether a field name is want, in any case.
func NameIs(name []byte, want string) bool {
	return len(name) == len(want) && bytes.EqualFold(name, []byte(want))
}

// Canonical reports whether a token name is in canonical form already, as
// textproto.CanonicalMIMEHeaderKey would give it: an upper-case letter
// first and after each '-', lower case elsewhere.
func Canonical(name []byte) bool {
	upper := true
	for _, c := range name {
		switch {
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		}
		upper = c == '-'
	}
	return true
}

// Head is a copy of a head as one string, from which the parts of the
// bytes it was copied from are taken without copying them again.
type Head struct {
	b []byte
	s string
}

// NewHead copies b[:n].
func NewHead(b []byte, n int) Head { return Head{b: b, s: string(b[:n])} }

// Part returns p, a part of the first n bytes of the b given to NewHead, as
// a part of the copy: p's offset in b is what its capacity tells.
func (h Head) Part(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	off := cap(h.b) - cap(p)
	return h.s[off : off+len(p)]
}

// Header makes the header of the n field lines in lines (each "Name: value"
// ending in CRLF and accepted by SplitField; lines is a part of the bytes
// given to NewHead), as net/http's parser makes it: names in canonical
// form, values in order. Names and values are parts of h's copy, and the
// value slices share one block. The field named take (in canonical form),
// if any, is left out of the header and its last value returned, as
// net/http takes Host out of a request's.
func (h Head) Header(lines []byte, n int, take string) (header http.Header, taken string) {
	header = make(http.Header, n)
	values := make([]string, n)
	for r := lines; len(r) > 0; {
		var l []byte
		l, r, _ = bytes.Cut(r, CRLF)
		name, value, _ := SplitField(l)
		key := h.Part(name)
		if !Canonical(name) {
			key = textproto.CanonicalMIMEHeaderKey(key)
		}
		v := h.Part(value)
		switch vv := header[key]; {
		case key == take:
			taken = v
		case vv == nil:
			header[key], values = values[:1:1], values[1:]
			header[key][0] = v
		default:
			header[key] = append(vv, v)
		}
	}
	return header, taken
}

// Framing reports which of the fields that frame a body the message head
// at the start of b has, as net/http's parsers read a head: a
// Content-Length (length) and a Transfer-Encoding (coding), the names in
// any case. Lines end with LF, a CR before it dropped; a line that begins
// with a space or a tab continues the field before it (obs-fold); the head
// ends at the first empty line. complete is false when b does not hold the
// whole head, and then neither field is known. The parsers take both
// fields out of the header they return when they disagree, which is why
// the head is read again for them.
func Framing(b []byte) (length, coding, complete bool) {
	_, rest, more := bytes.Cut(b, []byte("\n")) // the start line
	for more {
		var line []byte
		line, rest, more = bytes.Cut(rest, []byte("\n"))
		if !more {
			break // a line not all in b
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return length, coding, true
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch {
		case NameIs(name, "Content-Length"):
			length = true
		case NameIs(name, "Transfer-Encoding"):
			coding = true
		}
	}
	return false, false, false
}
