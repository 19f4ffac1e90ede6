// Package route is certbind's route language, written once: a gateway
// route's path ("/api/*", "/users/{id}", literal segments with %-escapes),
// the backend URL of a forward route and the ${params.NAME} pattern of a
// rewrite route. The deploytracker checks a deploy with it (ParsePath,
// CheckURL, CheckRewrite), and the edge compiles each route once when a
// deployment arrives (Compile, CompileRewrite) and matches requests and
// builds targets with the result.
//
// Error messages continue a sentence that has named the value ("path ...",
// `"https://b" ...`), so that the caller can say where it is.
package route

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/certbind/certbind/internal/validate"
)

// MaxPathLen bounds a route path, in bytes; real paths are far shorter.
const MaxPathLen = 1024

// MaxNameLen bounds a path parameter name (and a variable name, which
// follows the same rule), in characters.
const MaxNameLen = 128

// Param is a {NAME} of a route path and the request segment it matched,
// decoded.
type Param struct{ Name, Value string }

// Path is a compiled route path. It is never changed once compiled, so
// the requests of a route share it.
type Path struct {
	segs []segment // the segments before a final "*"
	// star is set when the path ends in "/*", which matches whatever
	// remains of a request path, including nothing.
	star   bool
	params []string
	key    string
}

// segment is one segment of a compiled path: a {NAME} parameter, or a
// literal matched against the decoded request segment.
type segment struct {
	param bool
	// text is the parameter's name or the literal, %-escapes decoded.
	text string
	// never is set for a literal whose %-escapes do not decode: no
	// request segment matches it.
	never bool
}

// Params returns the {NAME}s of the path, in order. The slice is shared:
// do not change it.
func (p *Path) Params() []string { return p.params }

// Key returns the path with parameter names blanked and %-escapes
// normalized, so that two paths matching the same requests have the same
// key. Only a path from ParsePath has one.
func (p *Path) Key() string { return p.key }

// ParsePath checks a route path and compiles it: "/" followed by segments
// that are literal text (letters, digits, - _ . ~ and %-escapes), {name}
// parameters, or a final "*" matching the rest. Errors continue the
// sentence "path ...".
func ParsePath(p string) (*Path, error) {
	key, err := checkPath(p)
	if err != nil {
		return nil, err
	}
	c := Compile(p)
	c.key = key
	return c, nil
}

// Compile compiles a path as the edge reads it, without checking it: a
// segment "{NAME}" is a parameter, a final "*" matches the rest, and any
// other segment is a literal whose %-escapes are decoded (one that does not
// decode matches nothing). For a path ParsePath accepts, it gives what
// ParsePath gives, less the key. It never fails: a path stored by an older
// deploytracker still matches as it always did.
func Compile(p string) *Path {
	c := &Path{}
	rest := strings.TrimPrefix(p, "/")
	for {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "*" && !more:
			c.star = true
			return c
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			c.segs = append(c.segs, segment{param: true, text: name})
			c.params = append(c.params, name)
		case strings.Contains(seg, "%"):
			lit, err := url.PathUnescape(seg)
			c.segs = append(c.segs, segment{text: lit, never: err != nil})
		default:
			c.segs = append(c.segs, segment{text: seg})
		}
		if !more {
			return c
		}
		rest = tail
	}
}

// Match matches the decoded segments of a request path below the
// deployment ("/" and "" are [""]) against the path: a literal matches an
// equal segment, a {NAME} one non-empty segment, and a final "*" whatever
// remains, including nothing ("/api/*" matches "/api"). It returns the
// parameters in the order of the path, nil when there are none.
func (p *Path) Match(segments []string) ([]Param, bool) {
	if len(segments) < len(p.segs) || !p.star && len(segments) != len(p.segs) {
		return nil, false
	}
	var params []Param
	for i := range p.segs {
		s, got := &p.segs[i], segments[i]
		switch {
		case s.param:
			if got == "" {
				return nil, false
			}
			params = append(params, Param{Name: s.text, Value: got})
		case s.never || s.text != got:
			return nil, false
		}
	}
	return params, true
}

// checkPath checks a route path and returns its key.
func checkPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New(`is empty (write one such as "/api/*")`)
	case len(p) > MaxPathLen:
		return "", fmt.Errorf("is %d bytes long, over the limit of %d", len(p), MaxPathLen)
	case p[0] != '/':
		return "", fmt.Errorf(`must start with "/" (e.g. %s)`, validate.Quote("/"+p))
	case strings.Contains(p, "?"):
		return "", errors.New(`must not contain a query string ("?..."); routes match on the path only`)
	case p == "/":
		return "/", nil
	}
	segments := strings.Split(p[1:], "/")
	var params []string
	var key strings.Builder
	off := 1 // byte offset of seg in p
	for k, seg := range segments {
		last := k == len(segments)-1
		key.WriteByte('/')
		switch {
		case seg == "" && last:
			// "/api/" and "/api" would be two routes that look like
			// one; asking for one spelling avoids the surprise.
			return "", fmt.Errorf(`must not end with "/" (write %s, or %s to match everything below it)`,
				validate.Quote(strings.TrimRight(p, "/")), validate.Quote(p+"*"))
		case seg == "":
			return "", errors.New(`must not contain an empty segment ("//")`)
		case seg == "*" && last:
			key.WriteByte('*')
		case seg == "*":
			return "", errors.New(`may only have "*" as its last segment ("/*")`)
		case seg[0] == '{':
			name, ok := strings.CutSuffix(seg[1:], "}")
			if !ok || strings.ContainsAny(name, "{}") {
				return "", fmt.Errorf("has a parameter %s that is not a whole segment (write /{name}/, with nothing else between the slashes)", validate.Quote(seg))
			}
			if err := CheckName(name); err != nil {
				return "", fmt.Errorf("parameter {%s}: %v", name, err)
			}
			if slices.Contains(params, name) {
				return "", fmt.Errorf("has the parameter {%s} twice (give each parameter its own name)", name)
			}
			params = append(params, name)
			key.WriteString("{}")
		default:
			if err := literalSegment(&key, p, off, seg); err != nil {
				return "", err
			}
		}
		off += len(seg) + 1
	}
	return key.String(), nil
}

// literalSegment checks seg, the literal segment at byte offset off of path
// p, and writes its normalized form to key: an escaped unreserved character
// is written as itself and other escapes in upper case, as RFC 3986 says
// they are equal.
func literalSegment(key *strings.Builder, p string, off int, seg string) error {
	start := key.Len()
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case isUnreserved(c):
			key.WriteByte(c)
		case c == '%':
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return fmt.Errorf(`has a "%%" in segment %s that does not start an escape such as %%20 (write "%%25" for a literal "%%")`, validate.Quote(seg))
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
			return fmt.Errorf("has a parameter in segment %s that is not a whole segment (write /{name}/, with nothing else between the slashes)", validate.Quote(seg))
		case c == '*':
			return errors.New(`may only have "*" as a whole last segment ("/*")`)
		default:
			return fmt.Errorf("has %s at position %d, which is not allowed (use letters, digits, - _ . ~ or %%-escapes such as %%20)",
				validate.DescribeByte(seg, i), charCount(p[:off+i])+1)
		}
	}
	// Dot segments are removed by clients and proxies before a request
	// arrives, so a route containing one could never match as written,
	// and the encoded forms would be decoded into a path traversal.
	if s := key.String()[start:]; s == "." || s == ".." {
		return fmt.Errorf(`must not contain a %s segment`, validate.Quote(s))
	}
	return nil
}

// CheckName checks a path parameter name (or a variable name, which
// follows the same rule): a letter or _ followed by letters, digits and _,
// at most MaxNameLen characters. Errors continue a sentence that has
// named it.
func CheckName(name string) error {
	if name == "" {
		return errors.New("is empty (use letters, digits and _, e.g. BACKEND_HOST)")
	}
	if n := charCount(name); n > MaxNameLen {
		return fmt.Errorf("is %d characters long, over the limit of %d", n, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		case i == 0:
			return fmt.Errorf("starts with %s (start with a letter or _)", validate.DescribeByte(name, i))
		default:
			return fmt.Errorf("has %s at position %d (use letters, digits and _)", validate.DescribeByte(name, i), charCount(name[:i])+1)
		}
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
