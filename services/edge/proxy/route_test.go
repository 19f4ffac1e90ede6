package proxy

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/services/edge/state"
)

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
		params        []param
	}{
		{"/", "/", true, nil},
		{"/", "", true, nil},
		{"/", "/a", false, nil},
		{"/*", "", true, nil},
		{"/*", "/a/b/", true, nil},
		{"/api/*", "/api", true, nil},
		{"/api/*", "/api/", true, nil},
		{"/api/*", "/api/a/b", true, nil},
		{"/api/*", "/apis", false, nil},
		{"/api/*", "/", false, nil},
		{"/api", "/api", true, nil},
		{"/api", "/api/", false, nil},
		{"/api", "/api/x", false, nil},
		{"/a%20b", "/a%20b", true, nil},
		{"/a%20b", "/a b", true, nil},
		{"/a~b", "/a%7Eb", true, nil},
		{"/users/{id}", "/users/42", true, []param{{Name: "id", Value: "42"}}},
		{"/users/{id}", "/users/a%2Fb", true, []param{{Name: "id", Value: "a/b"}}},
		{"/users/{id}", "/users/", false, nil},
		{"/users/{id}", "/users", false, nil},
		{"/users/{id}", "/users/1/2", false, nil},
		{"/{a}/x/{b}/*", "/1/x/2", true, []param{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}}},
		{"/{a}/x/{b}/*", "/1/y/2", false, nil},
	} {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			// Encoded slashes allowed: matching does not depend on the policy.
			_, rest, err := splitRequestPath("/acme/shop/prod"+tc.path, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			params, ok := route.Compile(tc.pattern).Match(rest.segments)
			if ok != tc.want || ok && !slices.Equal(params, tc.params) {
				t.Errorf("Match = %v %v, want %v %v", params, ok, tc.params, tc.want)
			}
		})
	}
}

func TestForwardURL(t *testing.T) {
	for _, tc := range []struct{ base, path, query, want string }{
		{"https://b", "", "", "https://b/"},
		{"https://b", "/", "", "https://b/"},
		{"https://b/", "/x", "", "https://b/x"},
		{"https://b/v1/", "/x", "a=1", "https://b/v1/x?a=1"},
		{"https://b/v1", "/x%2Fy", "", "https://b/v1/x%2Fy"},
		{"https://b:8443/v1", "", "", "https://b:8443/v1"},
		// A base path with a character it should have escaped keeps the
		// request's "%2F" inside its segment.
		{"https://b/{v1}", "/x%2Fy", "", "https://b/%7Bv1%7D/x%2Fy"},
	} {
		// A route as tests build it parses its baseUrl per request; one
		// from the watcher is prepared: both must forward alike.
		r := state.Route{BaseURL: tc.base}
		for _, prepared := range []bool{false, true} {
			if prepared {
				r.Prepare()
			}
			u, err := forwardTarget(&r, tc.path, tc.query)
			if err != nil || u.String() != tc.want {
				t.Errorf("forward of %q %q to %q (prepared %v) = %v, %v; want %s", tc.path, tc.query, tc.base, prepared, u, err, tc.want)
			}
		}
	}
	r := state.Route{BaseURL: "https://b:port/"}
	if u, err := forwardTarget(&r, "/x", ""); err == nil || !strings.Contains(err.Error(), "baseUrl is not a valid URL") {
		t.Errorf("forward to %q = %v, %v; want an error naming baseUrl", r.BaseURL, u, err)
	}
}

// forwardTarget is target for a forward route and a request path below
// the deployment.
func forwardTarget(r *state.Route, escapedPath, rawQuery string) (*url.URL, error) {
	d, err := target(r, requestPath{escaped: escapedPath}, nil, rawQuery)
	if err != nil {
		return nil, err
	}
	return url.Parse(d.origin + d.uri)
}

// FuzzRequestPath checks, for any path a client may send, that whatever
// reaches a backend stays on the route's host, below its base path, and
// that a parameter cannot add path segments or query parameters.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{"/acme/shop/prod/api/x", "/a/b/c", "/a/b/c/", "/a/b/c/%2e%2e/x", "/a/b/c/x%2Fy?z", "//a/b/c", "/a/b/c/@evil.example/x", "/a/b/c//evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		_, rest, err := splitRequestPath(escaped, false, nil)
		if err != nil {
			return
		}
		if rest.escaped != "" && rest.escaped[0] != '/' || len(rest.segments) == 0 {
			t.Fatalf("rest %+v", rest)
		}
		for _, s := range rest.segments {
			if s == "." || s == ".." {
				t.Fatalf("dot segment in %+v", rest)
			}
		}
		u, err := forwardTarget(&state.Route{BaseURL: "https://backend:8443/base"}, rest.escaped, "")
		if err != nil {
			t.Fatal(err)
		}
		if u.Host != "backend:8443" || !strings.HasPrefix(u.EscapedPath(), "/base") {
			t.Fatalf("forward of %q goes to %s", escaped, u)
		}
		params, ok := route.Compile("/{p}/*").Match(rest.segments)
		if !ok {
			return
		}
		u, err = route.CompileRewrite("https://backend/x/${params.p}?q=${params.p}").URL(params, "")
		if err != nil {
			t.Fatal(err)
		}
		if u.Host != "backend" || strings.Count(u.EscapedPath(), "/") != 2 || len(u.Query()) != 1 || u.Query().Get("q") != params[0].Value {
			t.Fatalf("rewrite of %q goes to %s", escaped, u)
		}
	})
}
