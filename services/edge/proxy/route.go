package proxy

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/services/edge/state"
)

// param is a {NAME} of a route path and the request segment it matched,
// decoded.
type param = route.Param

// requestPath is the part of an incoming path below the deployment prefix.
type requestPath struct {
	// escaped is the path as the client sent it, "" or starting with "/".
	// A forward handler appends it to baseUrl unchanged.
	escaped string
	// segments are its segments, decoded: "/a/b%20c" is ["a", "b c"] and
	// both "" and "/" are [""].
	segments []string
}

// Why splitRequestPath refuses a path: errNoDeployment, errBadPath, or
// a *pathError (wrapping errPathNotAllowed) for a path the path policy
// refuses.
var (
	errNoDeployment = errors.New("the path does not start with /ACCOUNT/PROJECT/ENVIRONMENT")
	errBadPath      = errors.New("the path has an invalid %-escape")
)

// splitRequestPath splits an escaped request path into the deployment it
// names and the rest. It refuses a path that names no deployment, that has
// an invalid %-escape, or that the path policy (see path.go) refuses in
// any segment, the deployment's included: a dot segment, an encoded
// separator (a "/" only unless allowSlash), a "\", a control character.
// Such paths are refused rather than resolved or passed on because a
// backend that decodes or resolves "/api/..%2Fadmin" itself would serve a
// path no route allowed.
func splitRequestPath(escaped string, allowSlash bool, segments []string) (key state.Key, rest requestPath, err error) {
	var prefix [3]string
	// below is rest.escaped, kept apart from rest until the end: escape
	// analysis follows a struct as a whole, and the strings that reach
	// decodeSegment would take segments to the heap with them.
	var below string
	s := strings.TrimPrefix(escaped, "/")
	for i := range prefix {
		seg, tail, found := strings.Cut(s, "/")
		v, err := decodeSegment(seg, allowSlash)
		switch {
		case err != nil:
			return key, rest, err
		case v == "":
			return key, rest, errNoDeployment
		}
		prefix[i] = v
		if !found {
			if i < 2 {
				return key, rest, errNoDeployment
			}
			break
		}
		s = tail
		if i == 2 {
			below = escaped[len(escaped)-len(s)-1:]
		}
	}
	key = state.Key{Account: prefix[0], Project: prefix[1], Environment: prefix[2]}
	// The segments go into the caller's segments, which may be on its
	// stack when they fit (see Handler.ServeHTTP).
	segments = segments[:0]
	for s, more := strings.TrimPrefix(below, "/"), true; more; {
		var seg string
		seg, s, more = strings.Cut(s, "/")
		v, err := decodeSegment(seg, allowSlash)
		if err != nil {
			return key, requestPath{escaped: below}, err
		}
		segments = append(segments, v)
	}
	return key, requestPath{escaped: below, segments: segments}, nil
}

// decodeSegment decodes an escaped segment the path policy allows.
func decodeSegment(seg string, allowSlash bool) (string, error) {
	v, err := url.PathUnescape(seg)
	if err != nil {
		return "", errBadPath
	}
	if err := checkSegment(seg, v, allowSlash); err != nil {
		return "", err
	}
	return v, nil
}

// allowsMethod reports whether a route serves method; no methods means all.
func allowsMethod(r *state.Route, method string) bool {
	return len(r.Methods) == 0 || slices.Contains(r.Methods, method)
}

// findRoute returns the first route of d whose path matches rest and that
// serves method. When some route matches the path but none serves the
// method, it returns nil and the methods those routes serve, for a 405.
func findRoute(d *state.Deployment, method string, rest requestPath) (*state.Route, []param, []string) {
	var allowed []string
	for i := range d.Routes {
		r := &d.Routes[i]
		params, ok := r.CompiledPath().Match(rest.segments)
		if !ok {
			continue
		}
		if allowsMethod(r, method) {
			return r, params, nil
		}
		for _, m := range r.Methods {
			if !slices.Contains(allowed, m) {
				allowed = append(allowed, m)
			}
		}
	}
	return nil, nil, allowed
}
