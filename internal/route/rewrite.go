package route

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Rewrite is a compiled rewrite pattern. It is never changed once
// compiled, so the requests of a route share it.
type Rewrite struct {
	parts []part
	tail  string // the text after the last placeholder
	// unclosed is set when the tail holds a "${params." without a
	// closing "}": building the URL fails once the parts before it are
	// filled.
	unclosed bool
	// size is the length of the text copied from the pattern.
	size int
}

// part is the literal text before a placeholder and the placeholder's name.
type part struct {
	lit, name string
	// inQuery is set when the placeholder comes after the "?": its value
	// is escaped as a query value rather than as a path segment.
	inQuery bool
}

// CompileRewrite compiles a rewrite pattern as the edge reads it, without
// checking it (CheckRewrite does that at deploy time): every
// "${params.NAME}" is a placeholder, any other text is copied, with the
// characters a path may not hold unescaped ("{", "|", ...) percent-encoded
// in the path. It never fails; a pattern that cannot give a URL fails in
// URL, for each request.
func CompileRewrite(pattern string) *Rewrite {
	const open = "${params."
	rw := &Rewrite{}
	var at textState
	rest := pattern
	for {
		i := strings.Index(rest, open)
		if i < 0 {
			rw.tail = at.copy(rest)
			rw.size += len(rw.tail)
			return rw
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			rw.tail, rw.unclosed = rest, true
			return rw
		}
		lit := at.copy(rest[:i])
		rw.size += len(lit)
		rw.parts = append(rw.parts, part{lit: lit, name: rest[i+len(open) : i+end], inQuery: at.where == inQuery})
		rest = rest[i+end+1:]
	}
}

// textState follows where the literal text of a pattern has got to.
type textState struct {
	where int // beforePath, inPath or inQuery
	// Before the path: how much of "://" has been seen, and whether a
	// host has followed it.
	sep  int
	host bool
}

const (
	beforePath = iota
	inPath
	inQuery
)

// copy returns the next literal text of a pattern, with the characters that
// a path may not hold unescaped percent-encoded where it is in the path.
//
// Without that, a "{" in the pattern's path made the whole path invalidly
// escaped, so net/url dropped the escaped form and encoded the decoded path
// again: a value's "%2F" became "/", a segment the pattern does not have.
func (st *textState) copy(lit string) string {
	var b []byte // nil while lit needs no change
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		switch st.where {
		case beforePath:
			// The path starts at the first "/" after "://"; a "?" or "#"
			// there ends an empty path.
			switch {
			case st.sep < 3 && c == "://"[st.sep]:
				st.sep++
			case st.sep < 3:
				st.sep = 0
				if c == ':' {
					st.sep = 1
				}
			case st.host && c == '/':
				st.where = inPath
			case st.host && (c == '?' || c == '#'):
				st.where = inQuery
			default:
				st.host = true
			}
		case inPath:
			if c == '?' || c == '#' {
				st.where = inQuery
			} else if pathMustEscape(c) {
				if b == nil {
					b = append(make([]byte, 0, len(lit)+8), lit[:i]...)
				}
				b = append(b, '%', upperhex[c>>4], upperhex[c&15])
				continue
			}
		}
		if b != nil {
			b = append(b, c)
		}
	}
	if b == nil {
		return lit
	}
	return string(b)
}

const upperhex = "0123456789ABCDEF"

// pathMustEscape reports whether c has to be percent-encoded in a path
// (RFC 3986 pchar and "/"; "[", "]" and "%" are left as net/url leaves
// them).
func pathMustEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,;=:@[]%/", rune(c))
}

// URL fills the placeholders with params and appends rawQuery, the
// request's query, to the pattern's own. A value is escaped for where its
// placeholder is: as a path segment before the "?", so that a "/" in it
// cannot add a segment, and as a query value after it, so that a "&" in it
// cannot add a parameter. The errors begin with "rewritePattern".
func (rw *Rewrite) URL(params []Param, rawQuery string) (*url.URL, error) {
	// One buffer for the URL: an escaped character takes at most three.
	n := rw.size
	for _, p := range rw.parts {
		if value, ok := lookup(params, p.name); ok {
			n += 3 * len(value)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range rw.parts {
		b.WriteString(p.lit)
		value, ok := lookup(params, p.name)
		if !ok {
			return nil, fmt.Errorf("rewritePattern uses ${params.%s}, which the route path does not have", p.name)
		}
		if p.inQuery {
			b.WriteString(url.QueryEscape(value))
		} else {
			b.WriteString(url.PathEscape(value))
		}
	}
	if rw.unclosed {
		return nil, errors.New(`rewritePattern has "${" without a closing "}"`)
	}
	b.WriteString(rw.tail)
	u, err := url.Parse(b.String())
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("rewritePattern gives an invalid URL: %w", err)
	}
	switch {
	case rawQuery == "":
	case u.RawQuery == "":
		u.RawQuery = rawQuery
	default:
		u.RawQuery += "&" + rawQuery
	}
	u.ForceQuery = false
	return u, nil
}

func lookup(params []Param, name string) (string, bool) {
	for _, p := range params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}
