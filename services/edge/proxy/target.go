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
		u, err := r.CompiledRewrite().URL(params, rawQuery)
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
