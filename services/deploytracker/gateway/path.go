package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxPathLen bounds a route path, in bytes; real paths are far shorter.
const maxPathLen = 1024

// pathPattern is what the rest of the package needs from a checked path.
type pathPattern struct {
	params []string // the {NAME}s, in order
	// key is the path with parameter names blanked and %-escapes
	// normalized, so that two paths matching the same requests have the
	// same key.
	key string
}

// parsePath checks a route path: "/" followed by segments that are literal
// text (letters, digits, - _ . ~ and %-escapes), {name} parameters, or a
// final "*" matching the rest. Errors continue the sentence "path ...".
func parsePath(p string) (pathPattern, error) {
	var pp pathPattern
	switch {
	case p == "":
		return pp, errors.New(`is empty (write one such as "/api/*")`)
	case len(p) > maxPathLen:
		return pp, fmt.Errorf("is %d bytes long, over the limit of %d", len(p), maxPathLen)
	case p[0] != '/':
		return pp, fmt.Errorf(`must start with "/" (e.g. %s)`, quote("/"+p))
	case strings.Contains(p, "?"):
		return pp, errors.New(`must not contain a query string ("?..."); routes match on the path only`)
	case p == "/":
		pp.key = "/"
		return pp, nil
	}
	segments := strings.Split(p[1:], "/")
	var key strings.Builder
	off := 1 // byte offset of seg in p
	for k, seg := range segments {
		last := k == len(segments)-1
		key.WriteByte('/')
		switch {
		case seg == "" && last:
			// "/api/" and "/api" would be two routes that look like
			// one; asking for one spelling avoids the surprise.
			return pp, fmt.Errorf(`must not end with "/" (write %s, or %s to match everything below it)`,
				quote(strings.TrimRight(p, "/")), quote(p+"*"))
		case seg == "":
			return pp, errors.New(`must not contain an empty segment ("//")`)
		case seg == "*" && last:
			key.WriteByte('*')
		case seg == "*":
			return pp, errors.New(`may only have "*" as its last segment ("/*")`)
		case seg[0] == '{':
			name, ok := strings.CutSuffix(seg[1:], "}")
			if !ok || strings.ContainsAny(name, "{}") {
				return pp, fmt.Errorf("has a parameter %s that is not a whole segment (write /{name}/, with nothing else between the slashes)", quote(seg))
			}
			if err := checkIdentifier(name); err != nil {
				return pp, fmt.Errorf("parameter {%s}: %v", name, err)
			}
			if slices.Contains(pp.params, name) {
				return pp, fmt.Errorf("has the parameter {%s} twice (give each parameter its own name)", name)
			}
			pp.params = append(pp.params, name)
			key.WriteString("{}")
		default:
			if err := literalSegment(&key, p, off, seg); err != nil {
				return pp, err
			}
		}
		off += len(seg) + 1
	}
	pp.key = key.String()
	return pp, nil
}

// literalSegment checks seg, the literal segment at byte offset off of path
// p, and writes its
// normalized form to key: an escaped unreserved character is written as
// itself and other escapes in upper case, as RFC 3986 says they are equal.
func literalSegment(key *strings.Builder, p string, off int, seg string) error {
	start := key.Len()
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case isUnreserved(c):
			key.WriteByte(c)
		case c == '%':
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return fmt.Errorf(`has a "%%" in segment %s that does not start an escape such as %%20 (write "%%25" for a literal "%%")`, quote(seg))
			}
			b := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			// An encoded "/" or NUL means one thing to a router
			// that matches the raw path and another to a backend
			// that decodes it; a route is not the place for that.
			switch {
			case b == '/':
				return fmt.Errorf(`must not contain %s (an encoded "/"); use another character`, seg[i:i+3])
			case b == 0:
				return errors.New("must not contain %00 (an encoded NUL)")
			case isUnreserved(b):
				key.WriteByte(b)
			default:
				fmt.Fprintf(key, "%%%02X", b)
			}
			i += 2
		case c == '{' || c == '}':
			return fmt.Errorf("has a parameter in segment %s that is not a whole segment (write /{name}/, with nothing else between the slashes)", quote(seg))
		case c == '*':
			return errors.New(`may only have "*" as a whole last segment ("/*")`)
		default:
			return fmt.Errorf("has %s at position %d, which is not allowed (use letters, digits, - _ . ~ or %%-escapes such as %%20)",
				describeByte(seg, i), charCount(p[:off+i])+1)
		}
	}
	// Dot segments are removed by clients and proxies before a request
	// arrives, so a route containing one could never match as written,
	// and the encoded forms would be decoded into a path traversal.
	if s := key.String()[start:]; s == "." || s == ".." {
		return fmt.Errorf(`must not contain a %s segment`, quote(s))
	}
	return nil
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// charCount counts the characters of s, counting each stray byte as one.
func charCount(s string) int {
	n := 0
	for range s {
		n++
	}
	return n
}
