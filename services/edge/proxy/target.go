package proxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/certbind/certbind/services/edge/state"
)

// dest is where a request is sent.
type dest struct {
	// backend gives the scheme and host. For a forward route it is the
	// route's parsed baseUrl, shared by its requests: never changed.
	backend *url.URL
	origin  string // scheme://host, as origin gives it
	uri     string // the request-target: the escaped path and the query
}

// target returns where a route sends the request. A rewritten path must
// meet the path policy too (see checkRewrittenPath): its error then wraps
// errPathNotAllowed.
func target(r *state.Route, rest requestPath, params []param, rawQuery string) (dest, error) {
	if r.RewritePattern != "" {
		u, err := rewriteURL(r.RewritePattern, params, rawQuery)
		if err != nil {
			return dest{}, err
		}
		if err := checkRewrittenPath(u.EscapedPath()); err != nil {
			return dest{}, err
		}
		return dest{backend: u, origin: origin(u), uri: u.RequestURI()}, nil
	}
	base, err := r.Base()
	if err != nil {
		return dest{}, fmt.Errorf("baseUrl is not a valid URL: %w", unwrapURLError(err))
	}
	uri, err := joinURI(base, rest.escaped, rawQuery)
	if err != nil {
		return dest{}, err
	}
	o := r.Origin()
	if o == "" {
		o = origin(base)
	}
	return dest{backend: base, origin: o, uri: uri}, nil
}

// joinURI returns the request-target of base with the escaped request path
// appended and the query set, with exactly one "/" where base's path and
// the request's meet: "https://b/v1/" and "/users" give "/v1/users". It
// works on a copy of base on the stack: a forwarded request allocates only
// the string.
func joinURI(base *url.URL, escapedPath, rawQuery string) (string, error) {
	u := *base
	p := strings.TrimSuffix(u.EscapedPath(), "/") + escapedPath
	if p == "" {
		p = "/"
	}
	if err := setEscapedPath(&u, p); err != nil {
		return "", err
	}
	u.RawQuery = rawQuery
	return u.RequestURI(), nil
}

// rewriteURL fills the ${params.NAME} placeholders of pattern and appends
// the request's query to the pattern's own. A value is escaped for where
// its placeholder is: as a path segment before the "?", so that a "/" in
// it cannot add a segment, and as a query value after it, so that a "&" in
// it cannot add a parameter.
func rewriteURL(pattern string, params []param, rawQuery string) (*url.URL, error) {
	var b strings.Builder
	inQuery := false
	rest := pattern
	for {
		i := strings.Index(rest, "${params.")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf(`rewritePattern has "${" without a closing "}"`)
		}
		lit := rest[:i]
		inQuery = inQuery || strings.Contains(lit, "?")
		b.WriteString(lit)
		name := rest[i+len("${params.") : i+end]
		value, ok := lookup(params, name)
		if !ok {
			return nil, fmt.Errorf("rewritePattern uses ${params.%s}, which the route path does not have", name)
		}
		if inQuery {
			b.WriteString(url.QueryEscape(value))
		} else {
			b.WriteString(url.PathEscape(value))
		}
		rest = rest[i+end+1:]
	}
	u, err := url.Parse(b.String())
	if err != nil {
		return nil, fmt.Errorf("rewritePattern gives an invalid URL: %w", unwrapURLError(err))
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

func lookup(params []param, name string) (string, bool) {
	for _, p := range params {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// setEscapedPath sets u's path from its escaped form, keeping the client's
// escaping (such as %2F inside a segment) as it was.
func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return fmt.Errorf("path %q has an invalid %%-escape", escaped)
	}
	u.Path, u.RawPath = p, escaped
	return nil
}

// origin is state.Origin: the scheme and host of a target, all that logs
// and messages show of it.
func origin(u *url.URL) string { return state.Origin(u) }

// unwrapURLError drops the *url.Error around err, whose text repeats the
// whole URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
