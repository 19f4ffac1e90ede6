package route

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/certbind/certbind/internal/validate"
)

// MaxURLLen bounds a backend URL or rewrite pattern, in bytes.
const MaxURLLen = 2048

// CheckURL checks a backend URL (a forward route's baseUrl). A query string
// is allowed only when allowQuery is set. Relative URLs, other schemes,
// user info and fragments are refused: the edge needs a host to present the
// certificate to, and credentials belong in the certificate. The error
// continues a sentence that has shown the URL.
func CheckURL(s string, allowQuery bool) error {
	if p := urlProblem(s, allowQuery); p != "" {
		return errors.New(p)
	}
	return nil
}

// CheckRewrite checks a rewrite pattern: an absolute URL in which every
// ${params.NAME} names one of params, the parameters of the route's path.
// Placeholders may not be in the scheme or host: the backend receives the
// route's client certificate, so the caller of the gateway must not be able
// to choose it. The error continues a sentence that has shown the pattern.
func CheckRewrite(pattern string, params []string) error {
	if p := rewriteProblem(pattern, params); p != "" {
		return errors.New(p)
	}
	return nil
}

func urlProblem(s string, allowQuery bool) string {
	if len(s) > MaxURLLen {
		return fmt.Sprintf("is %d bytes long, over the limit of %d", len(s), MaxURLLen)
	}
	if p := charProblem(s); p != "" {
		return p
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a password;
		// the cause alone is enough here.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "is not a valid URL: " + err.Error()
	}
	switch {
	case u.Scheme == "":
		return "is not an absolute URL (start it with https:// or http://, e.g. https://backend.example.com)"
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("has the scheme %s (use https:// or http://)", validate.Quote(u.Scheme))
	case u.Opaque != "":
		return `needs "//" after the scheme (e.g. https://backend.example.com)`
	case u.User != nil:
		return `must not contain a user name or password (remove the part before "@"; the backend is authenticated by mtlsCertificate)`
	case u.Hostname() == "":
		return "has no host (e.g. https://backend.example.com)"
	case strings.Contains(s, "#"):
		return `must not contain a fragment ("#...")`
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return `must not contain a query string ("?..."); the request's own query string is passed on`
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("has the port %s, which is not between 1 and 65535", validate.Quote(port))
		}
	}
	return ""
}

// charProblem finds a character that has to be percent-encoded in a URL
// but is not. url.Parse lets some of them through, and a space or a
// non-ASCII letter in a backend URL is almost always a copy-paste accident.
func charProblem(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f {
			continue
		}
		hint := "percent-encode it, e.g. %20 for a space"
		if c > 0x7f {
			hint = "percent-encode it in the path, and write a non-ASCII host name in punycode"
		}
		return fmt.Sprintf("contains %s at position %d (%s)", validate.DescribeByte(s, i), charCount(s[:i])+1, hint)
	}
	return ""
}

func rewriteProblem(pattern string, params []string) string {
	literals, names, err := SplitRewrite(pattern)
	if err != nil {
		return err.Error()
	}
	for _, name := range names {
		if !slices.Contains(params, name) {
			have := "the path has no parameters"
			if len(params) > 0 {
				have = "the path has {" + strings.Join(params, "}, {") + "}"
			}
			return fmt.Sprintf("uses %s, but %s (add {%s} to the path or use one of its parameters)",
				validate.Quote("${params."+name+"}"), have, strings.Trim(validate.Quote(name), `"`))
		}
	}
	if p := charProblem(pattern); p != "" {
		return p
	}
	// The text before the first placeholder must hold the whole scheme and
	// authority, up to the "/" or "?" that ends it.
	if len(names) > 0 {
		_, after, ok := strings.Cut(literals[0], "://")
		if !ok || !strings.ContainsAny(after, "/?") {
			return "must not have ${params...} in the scheme or host (the backend receives the client certificate, so it must be fixed; use placeholders in the path or query)"
		}
	}
	return urlProblem(strings.Join(literals, "x"), true)
}

// SplitRewrite splits a rewrite pattern around its ${params.NAME}
// placeholders, returning the text between them (one more than the names)
// and the names in order. It refuses a "${" that does not start a
// placeholder with a valid name.
func SplitRewrite(pattern string) (literals, names []string, err error) {
	rest := pattern
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			return append(literals, rest), names, nil
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, nil, errors.New(`has "${" without a closing "}" (write ${params.NAME})`)
		}
		inner := rest[i+2 : i+end]
		name, ok := strings.CutPrefix(inner, "params.")
		if !ok {
			return nil, nil, fmt.Errorf("uses %s, but only ${params.NAME} placeholders are supported, NAME being a {NAME} of the path",
				validate.Quote("${"+inner+"}"))
		}
		if err := CheckName(name); err != nil {
			return nil, nil, fmt.Errorf("uses %s, whose parameter name %v", validate.Quote("${"+inner+"}"), err)
		}
		literals = append(literals, rest[:i])
		names = append(names, name)
		rest = rest[i+end+1:]
	}
}
