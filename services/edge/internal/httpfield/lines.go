package httpfield

import (
	"bytes"

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
	for _, c := range value {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.Trim(value, " \t"), true
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
