package proxy

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/services/edge/state"
)

func TestPathPolicy(t *testing.T) {
	for _, tc := range []struct {
		path       string // below /acme/shop/prod
		allowSlash bool
		rule       pathRule // "": allowed
		twice      bool
	}{
		{path: "/api/x"},
		{path: "/api/a%20b/c"},
		{path: "/api//x"},
		{path: "/api/x;v=1"},
		{path: "/api/.x"},
		{path: "/api/x."},
		{path: "/api/..x"},
		{path: "/api/x..y"},
		{path: "/api/%25"},
		{path: "/api/100%25off"},
		{path: "/api/caf%C3%A9"},
		{path: "/api/%E2%82%AC"},
		{path: "/api/a%2Fb", allowSlash: true},
		{path: "/api/a%2Fb%2Fc", allowSlash: true},
		{path: "/api/%2Fa", allowSlash: true},

		{path: "/api/.", rule: ruleDotSegment},
		{path: "/api/..", rule: ruleDotSegment},
		{path: "/api/...", rule: ruleDotSegment},
		{path: "/api/%2e", rule: ruleDotSegment},
		{path: "/api/%2E%2e", rule: ruleDotSegment},
		{path: "/api/.%2e/x", rule: ruleDotSegment},
		{path: "/api/..;", rule: ruleDotSegment},
		{path: "/api/..;/admin", rule: ruleDotSegment},
		{path: "/api/.;x=1", rule: ruleDotSegment},
		{path: "/api/..%3B", rule: ruleDotSegment},
		{path: "/api/..%20", rule: ruleDotSegment},
		{path: "/api/..%2F..%2Fadmin", rule: ruleEncodedSlash},
		{path: "/api/%2e%2e%2fadmin", rule: ruleEncodedSlash},
		{path: "/api/a%2Fb", rule: ruleEncodedSlash},
		{path: "/api/..%2Fadmin", allowSlash: true, rule: ruleDotSegment},
		{path: "/api/a%2F..", allowSlash: true, rule: ruleDotSegment},
		{path: "/api/a%2F.%2Fb", allowSlash: true, rule: ruleDotSegment},
		{path: "/api/a%2F..;x%2Fb", allowSlash: true, rule: ruleDotSegment},
		{path: "/api/..%5Cadmin", rule: ruleBackslash},
		{path: "/api/..%5cadmin", allowSlash: true, rule: ruleBackslash},
		{path: `/api/a\b`, rule: ruleBackslash},
		{path: "/api/a%00", rule: ruleControl},
		{path: "/api/a%0Ab", rule: ruleControl},
		{path: "/api/a%7F", rule: ruleControl},
		{path: "/api/a%09", rule: ruleControl},
		{path: "/api/%C0%AE%C0%AE", rule: ruleUTF8},
		{path: "/api/%FF", rule: ruleUTF8},
		{path: "/api/%EF%BC%8E%EF%BC%8E", rule: ruleFullwidth},
		{path: "/api/a%EF%BC%8Fb", rule: ruleFullwidth},
		{path: "/api/%252e%252e", rule: ruleDotSegment, twice: true},
		{path: "/api/%252e%252e%252fadmin", rule: ruleEncodedSlash, twice: true},
		{path: "/api/a%252Fb", allowSlash: true},
		{path: "/api/..%252Fadmin", allowSlash: true, rule: ruleDotSegment, twice: true},
		{path: "/api/%255C", rule: ruleBackslash, twice: true},
		{path: "/api/%2500", rule: ruleControl, twice: true},
		// The deployment's own segments are held to the policy too.
		{path: "/../x", rule: ruleDotSegment},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, _, err := splitRequestPath("/acme/shop/prod"+tc.path, tc.allowSlash, nil)
			var pe *pathError
			switch {
			case tc.rule == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.rule == "":
			case !errors.As(err, &pe) || !errors.Is(err, errPathNotAllowed):
				t.Fatalf("error %v, want one that %s", err, tc.rule)
			case pe.rule != tc.rule || pe.twice != tc.twice:
				t.Fatalf("error %q, want one that %s (twice: %v)", err, tc.rule, tc.twice)
			}
		})
	}
	if _, _, err := splitRequestPath("/acme/shop/prod/api/%zz", false, nil); err != errBadPath {
		t.Errorf("an invalid escape gives %v, want errBadPath", err)
	}
}

// TestRewrittenPath checks the path a rewritePattern makes: the pattern's
// text and a parameter's value may make a dot segment together.
func TestRewrittenPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		ok             bool
	}{
		{"https://b/v2/${params.id}", "42", true},
		{"https://b/v2/${params.id}", "a/b", true},
		{"https://b/v2/.${params.id}", ".x", true},
		{"https://b/v2/.${params.id}", ".", false},
		{"https://b/v2/.${params.id}", ".x", true},
		{"https://b/v2/.${params.id}", ".", false},
		{"https://b/v2/${params.id}.", "x", true},
		{"https://b/v2/x${params.id}", "..", true},
		{"https://b/v2/${params.id}?q=${params.id}", "a", true},
	} {
		_, err := target(&state.Route{RewritePattern: tc.pattern}, requestPath{}, []param{{Name: "id", Value: tc.value}}, "")
		if ok := err == nil; ok != tc.ok || err != nil && !errors.Is(err, errPathNotAllowed) {
			t.Errorf("%s with %q: %v, want allowed %v", tc.pattern, tc.value, err, tc.ok)
		}
	}
}

func TestPathPolicyAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		checkSegment("users", "users", false)
		checkSegment("a%20b", "a b", false)
		checkSegment("caf%C3%A9", "café", false)
	})
	if n != 0 {
		t.Errorf("checkSegment allocates %v times for an allowed segment, want none", n)
	}
}

// FuzzPathPolicy checks, for any path a client may send, that a path the
// edge accepts stays below the route's prefix however a backend decodes
// and normalizes it (see resolveAsBackend), both for a forward route and
// through a rewrite, and that no segment holds a separator (a "/" only
// when encoded slashes are allowed).
func FuzzPathPolicy(f *testing.F) {
	for _, s := range []string{
		"/x", "/a/b/", "/..%2F..%2Fadmin", "/%2e%2e%2f", "/..%5C", "/..;/", "/%2F", "/a%2Fb", "/.;x/y",
		"/%252e%252e/", "/%C0%AE%C0%AE/x", "/%EF%BC%8E%EF%BC%8E/x", "/a%00", "/...", "/..%20/x",
		"/a%2F..%2F..", "/a/%2e%2E", `/a\..\b`, "/%25%32%65%25%32%65",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, rest string, allowSlash bool) {
		_, p, err := splitRequestPath("/acme/shop/prod"+rest, allowSlash, nil)
		if err != nil {
			if !errors.Is(err, errBadPath) && !errors.Is(err, errPathNotAllowed) && !errors.Is(err, errNoDeployment) {
				t.Fatalf("%q: unexpected error %v", rest, err)
			}
			return
		}
		for _, s := range p.segments {
			if strings.ContainsRune(s, '\\') || !allowSlash && strings.ContainsRune(s, '/') {
				t.Fatalf("%q: segment %q holds a separator", rest, s)
			}
		}
		d, err := target(&state.Route{BaseURL: "https://backend/base"}, p, nil, "")
		if err != nil {
			t.Fatalf("%q: forward: %v", rest, err)
		}
		for _, got := range resolveAsBackend(d.uri) {
			if got != "/base" && !strings.HasPrefix(got, "/base/") {
				t.Fatalf("%q is forwarded as %q, which a backend may take for %q", rest, d.uri, got)
			}
		}
		params, ok := route.Compile("/{p}/*").Match(p.segments)
		if !ok {
			return
		}
		d, err = target(&state.Route{RewritePattern: "https://backend/x/${params.p}/y"}, p, params, "")
		if errors.Is(err, errPathNotAllowed) {
			return
		}
		if err != nil {
			t.Fatalf("%q: rewrite: %v", rest, err)
		}
		for _, got := range resolveAsBackend(d.uri) {
			if !strings.HasPrefix(got, "/x/") {
				t.Fatalf("%q is rewritten as %q, which a backend may take for %q", rest, d.uri, got)
			}
		}
	})
}

// resolveAsBackend returns the paths that backends may take an escaped
// path for: decoded once or twice, with "\" and the fullwidth forms as
// separators and dots, an overlong "." as one, ";" parameters dropped,
// trailing dots and spaces dropped, and dot segments resolved.
func resolveAsBackend(escaped string) []string {
	var out []string
	decoded := []string{escaped}
	for range 2 {
		next, err := url.PathUnescape(decoded[len(decoded)-1])
		if err != nil {
			break
		}
		decoded = append(decoded, next)
	}
	r := strings.NewReplacer(`\`, "/", "\uff0f", "/", "\uff3c", "/", "\uff0e", ".", "\xc0\xae", ".")
	for _, p := range decoded {
		out = append(out, resolveDots(r.Replace(p)))
	}
	return out
}

// resolveDots resolves the dot segments of a decoded path as the most
// lenient backend would.
func resolveDots(p string) string {
	var stack []string
	for _, seg := range strings.Split(p, "/") {
		s := seg
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimRight(s, " ")
		switch {
		case s == "":
			stack = append(stack, seg)
		case strings.Trim(s, ".") == "" && s == ".":
		case strings.Trim(s, ".") == "":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		default:
			stack = append(stack, seg)
		}
	}
	return strings.Join(stack, "/")
}
