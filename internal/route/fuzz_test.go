package route

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParsePath checks that any path gets a compiled route or an error,
// never a panic; that an accepted path matches the request that spells it
// (parameters filled in) and has a key; and that what ParsePath compiles
// matches as Compile's reading of the same text does.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/", "/*", "/api/*", "/users/{id}", "/{a}/x/{b}/*", "/a%20b/%7E", "/a%2Fb", "/a/../b",
		"/files/{name}.json", "/u/{id}/x/{id}", "/a//b", "/a/", "api", "/a?b", "/é", "/a%zz", "/{}", "/%2e%2E", "/a*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParsePath(%q): empty error", s)
			}
			return
		}
		if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?") || len(s) > MaxPathLen || !strings.HasPrefix(p.Key(), "/") {
			t.Fatalf("ParsePath accepted %q with key %q", s, p.Key())
		}
		// The request that spells the path, with "v" for each
		// parameter and "rest" for a final star.
		var segments []string
		for seg := range strings.SplitSeq(s[1:], "/") {
			switch {
			case seg == "*":
				segments = append(segments, "rest")
			case strings.HasPrefix(seg, "{"):
				segments = append(segments, "v")
			default:
				lit, err := url.PathUnescape(seg)
				if err != nil || lit == "." || lit == ".." || strings.ContainsAny(lit, "/\x00") {
					t.Fatalf("ParsePath accepted %q with segment %q", s, seg)
				}
				segments = append(segments, lit)
			}
		}
		params, ok := p.Match(segments)
		if !ok || len(params) != len(p.Params()) {
			t.Fatalf("%q does not match its own spelling %q: %v %v", s, segments, params, ok)
		}
		for i, name := range p.Params() {
			if params[i] != (Param{name, "v"}) || CheckName(name) != nil {
				t.Fatalf("%q matching %q gives %v", s, segments, params)
			}
		}
		if _, ok := Compile(s).Match(segments); !ok {
			t.Fatalf("Compile(%q) does not match %q", s, segments)
		}
	})
}

// FuzzRewrite checks that any rewrite pattern gets an error or passes, never
// a panic, and that a pattern that passes gives a URL on its own host for
// any parameter value, with the value unable to add a segment or a query
// parameter.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{"https://b/v2/${params.id}", "https://b/${params.id}?q=${params.id}", "https://${params.id}/", "https://b/${params.id",
		"https://b/${env.X}", "https://b/x", "http://[::1]:80/${params.id}/y", "https://b:0/${params.id}"} {
		f.Add(s, "a/b&c")
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if err := CheckRewrite(pattern, []string{"id"}); err != nil {
			if err.Error() == "" {
				t.Fatalf("CheckRewrite(%q): empty error", pattern)
			}
			return
		}
		literals, names, err := SplitRewrite(pattern)
		if err != nil {
			t.Fatalf("CheckRewrite accepted %q, SplitRewrite refused it: %v", pattern, err)
		}
		fixed, err := url.Parse(strings.Join(literals, "x"))
		if err != nil {
			t.Fatalf("CheckRewrite accepted %q: %v", pattern, err)
		}
		if value == "" {
			value = "v" // a parameter matches a non-empty segment only
		}
		u, err := CompileRewrite(pattern).URL([]Param{{"id", value}}, "")
		if err != nil {
			t.Fatalf("%q with %q: %v", pattern, value, err)
		}
		if u.Host != fixed.Host || u.Scheme != fixed.Scheme {
			t.Fatalf("%q with %q goes to %s", pattern, value, u)
		}
		if len(names) > 0 {
			if strings.Count(u.EscapedPath(), "/") != strings.Count(fixed.EscapedPath(), "/") || len(u.Query()) != len(fixed.Query()) {
				t.Fatalf("%q with %q gives %s, not the shape of %s", pattern, value, u, fixed)
			}
		}
	})
}
