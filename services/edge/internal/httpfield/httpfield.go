// Package httpfield holds what the edge's server and its upstream client
// both need to write and read HTTP/1.1 header fields.
package httpfield

import "strings"

// SpaceControls returns v with each control byte but tab as a space: CR
// and LF would end the field early and let the rest pass as fields of its
// own, and RFC 9110 (section 5.5) allows no other control in a value. It
// works on bytes: any other byte (obs-text) passes as it is, UTF-8 or not.
func SpaceControls(v string) string {
	i := 0
	for i < len(v) && !isControl(v[i]) {
		i++
	}
	if i == len(v) {
		return v
	}
	b := []byte(v)
	for ; i < len(b); i++ {
		if isControl(b[i]) {
			b[i] = ' '
		}
	}
	return string(b)
}

func isControl(c byte) bool { return c < ' ' && c != '\t' || c == 0x7f }

// HasToken reports whether the comma-separated list v holds tok, in any
// case, as in Connection: keep-alive, Upgrade.
func HasToken(v, tok string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}
