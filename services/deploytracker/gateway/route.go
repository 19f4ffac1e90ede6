package gateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/internal/validate"
)

// Route is one validated entry of "routes".
type Route struct {
	Index int    // 0-based position in "routes"; messages count from 1
	Path  string // as written, e.g. "/users/{id}" or "/api/*"
	// Methods lists the HTTP methods the route serves, in upper case and
	// in the order written. Empty means every method.
	Methods []string
	Handler Handler
	// BaseURL is where a URLForwardHandler sends requests: an absolute
	// http or https URL without user info, query or fragment.
	BaseURL string
	// RewritePattern is the URL a URLRewriteHandler sends requests to. Its
	// ${params.NAME} placeholders each name a {NAME} of Path, and none of
	// them is in the scheme or host.
	RewritePattern string
	// MTLSCertificate names the client certificate presented to the
	// backend, after $env resolution; "" if none.
	MTLSCertificate string
	// CACertificate names the CA certificate that verifies the backend,
	// after $env resolution; "" to use the system roots.
	CACertificate string
}

// routeKeys are the keys a route object takes.
var routeKeys = []string{"path", "methods", "handler"}

// Where names a spot in the route for a message, such as
// `route 2 ("/users/{id}") option "mtlsCertificate"`. Routes are counted from
// 1 there, as a person reading gateway.json counts them. An empty option
// names the route itself; the path is left out when it is not known.
func (r Route) Where(option string) string {
	s := fmt.Sprintf("route %d", r.Index+1)
	if r.Path != "" {
		s += " (" + validate.Quote(r.Path) + ")"
	}
	if option != "" {
		s += " option " + validate.Quote(option)
	}
	return s
}

// fieldErrorf reports a problem with a key of the route itself ("path",
// "methods", "handler"...); the message names the key in its own words.
func (r Route) fieldErrorf(field, format string, args ...any) *Error {
	return &Error{Route: r.Index, Option: field, Msg: r.Where("") + ": " + fmt.Sprintf(format, args...)}
}

// optionErrorf reports a problem with a handler option.
func (r Route) optionErrorf(option, format string, args ...any) *Error {
	return &Error{Route: r.Index, Option: option, Msg: r.Where(option) + ": " + fmt.Sprintf(format, args...)}
}

// parseRoute validates the route at index i. Besides the route it returns a
// key that equals the key of any other route matching the same paths, for
// checkDuplicates.
func parseRoute(i int, raw json.RawMessage, vars map[string]string) (Route, string, *Error) {
	r := Route{Index: i}
	obj, ok := decodeObject(raw)
	if !ok {
		return r, "", r.fieldErrorf("", `must be an object such as {"path": "/api/*", "handler": {...}}, not %s`, kindOf(raw))
	}
	// The path is taken first, before anything is checked, so that every
	// message about this route can show it: an index alone is hard to
	// find in a long file.
	rawPath, hasPath := obj.fields["path"]
	if s, ok := stringOf(rawPath); hasPath && ok {
		r.Path = s
	}
	if obj.dup != "" {
		return r, "", r.fieldErrorf(obj.dup, "has the key %s twice (keep one)", validate.Quote(obj.dup))
	}
	if unknown := obj.unknown(routeKeys...); len(unknown) > 0 {
		return r, "", r.fieldErrorf(unknown[0], "has %s", unknownKeys(unknown, routeKeys, "a route"))
	}
	switch {
	case !hasPath:
		return r, "", r.fieldErrorf("path", `has no "path" (add one such as "path": "/api/*")`)
	case kindOf(rawPath) != jsonString:
		return r, "", r.fieldErrorf("path", `"path" must be a string such as "/api/*", not %s`, kindOf(rawPath))
	}
	pattern, err := route.ParsePath(r.Path)
	if err != nil {
		return r, "", r.fieldErrorf("path", "path %v", err)
	}
	if raw, ok := obj.fields["methods"]; ok {
		methods, e := parseMethods(r, raw)
		if e != nil {
			return r, "", e
		}
		r.Methods = methods
	}
	rawHandler, ok := obj.fields["handler"]
	if !ok {
		return r, "", r.fieldErrorf("handler",
			`has no "handler" (add one such as "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://backend.example.com"}})`)
	}
	if e := r.parseHandler(rawHandler, pattern.Params(), vars); e != nil {
		return r, "", e
	}
	return r, pattern.Key(), nil
}

// httpMethods are the methods a route may list, in the order messages
// name them.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// parseMethods checks a route's "methods" and returns them in upper case.
// An empty array means every method, like a missing one, and gives nil.
func parseMethods(r Route, raw json.RawMessage) ([]string, *Error) {
	items, ok := arrayOf(raw)
	if !ok {
		return nil, r.fieldErrorf("methods", `"methods" must be an array such as ["GET", "POST"], not %s (leave it out to serve every method)`, kindOf(raw))
	}
	var out []string
	for k, item := range items {
		s, ok := stringOf(item)
		if !ok {
			return nil, r.fieldErrorf("methods", `methods[%d] must be a string such as "GET", not %s`, k, kindOf(item))
		}
		m := asciiUpper(s)
		if !slices.Contains(httpMethods, m) {
			return nil, r.fieldErrorf("methods", "methods[%d] %s is not a supported HTTP method (use %s)", k, validate.Quote(s), strings.Join(httpMethods, ", "))
		}
		if slices.Contains(out, m) {
			return nil, r.fieldErrorf("methods", "methods lists %s twice (remove one)", m)
		}
		out = append(out, m)
	}
	return out, nil
}

// asciiUpper upper-cases ASCII letters only. strings.ToUpper would also map
// some other letters to ASCII ("ſ" to "S"), letting a lookalike spelling
// pass as a method name.
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// checkDuplicates refuses two routes that match the same path and method,
// since only one of them could ever serve the request. keys[i] is the path
// key of routes[i], so that "/users/{id}" and "/users/{uid}" count as one.
func checkDuplicates(routes []Route, keys []string) *Error {
	seen := make(map[string][]int)
	for i, r := range routes {
		for _, j := range seen[keys[i]] {
			first := routes[j]
			common := sharedMethods(first.Methods, r.Methods)
			if common == nil {
				continue
			}
			what := "every method"
			if len(common) > 0 {
				what = "method " + strings.Join(common, ", ")
			}
			return r.fieldErrorf("path", "matches the same requests as %s for %s (give one of them another path or other methods, or merge them)",
				first.Where(""), what)
		}
		seen[keys[i]] = append(seen[keys[i]], i)
	}
	return nil
}

// sharedMethods returns the methods both lists serve, nil when there are
// none, and an empty non-nil slice when both serve every method.
func sharedMethods(a, b []string) []string {
	switch {
	case len(a) == 0 && len(b) == 0:
		return []string{}
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	var out []string
	for _, m := range a {
		if slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}
