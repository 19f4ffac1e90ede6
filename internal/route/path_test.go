package route

import (
	"slices"
	"strings"
	"testing"
)

// TestParsePathRefuses pins the whole message for each kind of bad path:
// the deploytracker shows it after "path ", and the CLI and REST tests
// match parts of it.
func TestParsePathRefuses(t *testing.T) {
	for _, tc := range []struct{ path, msg string }{
		{"", `is empty (write one such as "/api/*")`},
		{"/" + strings.Repeat("a", MaxPathLen), "is 1025 bytes long, over the limit of 1024"},
		{"api/*", `must start with "/" (e.g. "/api/*")`},
		{"/a?b=1", `must not contain a query string ("?..."); routes match on the path only`},
		{"/a/", `must not end with "/" (write "/a", or "/a/*" to match everything below it)`},
		{"/a//", `must not contain an empty segment ("//")`},
		{"/a//b", `must not contain an empty segment ("//")`},
		{"//", `must not contain an empty segment ("//")`},
		{"/*/a", `may only have "*" as its last segment ("/*")`},
		{"/a*", `may only have "*" as a whole last segment ("/*")`},
		{"/a/**", `may only have "*" as a whole last segment ("/*")`},
		{"/files/{name}.json", `has a parameter "{name}.json" that is not a whole segment (write /{name}/, with nothing else between the slashes)`},
		{"/{a}{b}", `has a parameter "{a}{b}" that is not a whole segment (write /{name}/, with nothing else between the slashes)`},
		{"/x{a}", `has a parameter in segment "x{a}" that is not a whole segment (write /{name}/, with nothing else between the slashes)`},
		{"/{}", "parameter {}: is empty (use letters, digits and _, e.g. BACKEND_HOST)"},
		{"/u/{1d}", "parameter {1d}: starts with '1' (start with a letter or _)"},
		{"/u/{a-b}", "parameter {a-b}: has '-' at position 2 (use letters, digits and _)"},
		{"/u/{" + strings.Repeat("n", MaxNameLen+1) + "}", "parameter {" + strings.Repeat("n", MaxNameLen+1) + "}: is 129 characters long, over the limit of 128"},
		{"/u/{id}/x/{id}", "has the parameter {id} twice (give each parameter its own name)"},
		{"/a/../b", `must not contain a ".." segment`},
		{"/a/./b", `must not contain a "." segment`},
		{"/a/%2e%2E/b", `must not contain a ".." segment`},
		{"/%2e", `must not contain a "." segment`},
		{"/a%2Fb", `must not contain %2F (an encoded "/"); use another character`},
		{"/a%2fb", `must not contain %2f (an encoded "/"); use another character`},
		{"/a%00", "must not contain %00 (an encoded NUL)"},
		{"/a%2", `has a "%" in segment "a%2" that does not start an escape such as %20 (write "%25" for a literal "%")`},
		{"/a%zz", `has a "%" in segment "a%zz" that does not start an escape such as %20 (write "%25" for a literal "%")`},
		{"/a b", "has ' ' at position 3, which is not allowed (use letters, digits, - _ . ~ or %-escapes such as %20)"},
		{"/é/ü", "has 'é' at position 2, which is not allowed (use letters, digits, - _ . ~ or %-escapes such as %20)"},
		{"/ok/x\xff", "has byte 0xff at position 6, which is not allowed (use letters, digits, - _ . ~ or %-escapes such as %20)"},
		{"/a+b", "has '+' at position 3, which is not allowed (use letters, digits, - _ . ~ or %-escapes such as %20)"},
	} {
		p, err := ParsePath(tc.path)
		if err == nil {
			t.Errorf("ParsePath(%q) = %+v, want the error %q", tc.path, p, tc.msg)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("ParsePath(%q):\n got %s\nwant %s", tc.path, err, tc.msg)
		}
	}
}

func TestParsePathKeysAndParams(t *testing.T) {
	for _, tc := range []struct {
		path, key string
		params    []string
	}{
		{"/", "/", nil},
		{"/*", "/*", nil},
		{"/api/*", "/api/*", nil},
		{"/users/{id}", "/users/{}", []string{"id"}},
		{"/{a}/x/{b}/*", "/{}/x/{}/*", []string{"a", "b"}},
		// Escapes of unreserved characters are the characters; others
		// are written in upper case, so equal paths have equal keys.
		{"/%7euser/%41", "/~user/A", nil},
		{"/a%2fb%20c%c3%a9", "", nil}, // refused: encoded "/"
		{"/b%20c%c3%a9", "/b%20c%C3%A9", nil},
		{"/...", "/...", nil},
	} {
		p, err := ParsePath(tc.path)
		if tc.key == "" {
			if err == nil {
				t.Errorf("ParsePath(%q) accepted", tc.path)
			}
			continue
		}
		if err != nil || p.Key() != tc.key || !slices.Equal(p.Params(), tc.params) {
			t.Errorf("ParsePath(%q) = key %q params %q, %v; want %q %q", tc.path, keyOf(p), paramsOf(p), err, tc.key, tc.params)
		}
	}
}

func keyOf(p *Path) string {
	if p == nil {
		return ""
	}
	return p.Key()
}

func paramsOf(p *Path) []string {
	if p == nil {
		return nil
	}
	return p.Params()
}

// TestMatch matches decoded request segments below a deployment ("/" and
// "" are [""]), both with paths ParsePath accepts and with what Compile
// makes of others: a path stored by an older deploytracker matches as it
// always did.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		path     string
		segments []string
		want     bool
		params   []Param
	}{
		{"/", []string{""}, true, nil},
		{"/", []string{"a"}, false, nil},
		{"/*", []string{""}, true, nil},
		{"/*", []string{"a", "b", ""}, true, nil},
		{"/api/*", []string{"api"}, true, nil},
		{"/api/*", []string{"api", ""}, true, nil},
		{"/api/*", []string{"api", "a", "b"}, true, nil},
		{"/api/*", []string{"apis"}, false, nil},
		{"/api/*", []string{""}, false, nil},
		{"/api", []string{"api"}, true, nil},
		{"/api", []string{"api", ""}, false, nil},
		{"/api", []string{"api", "x"}, false, nil},
		{"/a%20b", []string{"a b"}, true, nil},
		{"/a%20b", []string{"a%20b"}, false, nil},
		{"/a~b", []string{"a~b"}, true, nil},
		{"/users/{id}", []string{"users", "42"}, true, []Param{{"id", "42"}}},
		{"/users/{id}", []string{"users", "a/b"}, true, []Param{{"id", "a/b"}}},
		{"/users/{id}", []string{"users", ""}, false, nil},
		{"/users/{id}", []string{"users"}, false, nil},
		{"/users/{id}", []string{"users", "1", "2"}, false, nil},
		{"/{a}/x/{b}/*", []string{"1", "x", "2"}, true, []Param{{"a", "1"}, {"b", "2"}}},
		{"/{a}/x/{b}/*", []string{"1", "x", "2", "3"}, true, []Param{{"a", "1"}, {"b", "2"}}},
		{"/{a}/x/{b}/*", []string{"1", "y", "2"}, false, nil},
		// Paths ParsePath refuses, as Compile reads them.
		{"/a/*/b", []string{"a", "*", "b"}, true, nil},
		{"/a%zz", []string{"a%zz"}, false, nil},
		{"/{}", []string{"x"}, true, []Param{{"", "x"}}},
		{"/a/", []string{"a", ""}, true, nil},
	} {
		p := Compile(tc.path)
		params, ok := p.Match(tc.segments)
		if ok != tc.want || ok && !slices.Equal(params, tc.params) {
			t.Errorf("%q matching %q = %v %v, want %v %v", tc.path, tc.segments, params, ok, tc.params, tc.want)
		}
		if parsed, err := ParsePath(tc.path); err == nil {
			params, ok := parsed.Match(tc.segments)
			if ok != tc.want || ok && !slices.Equal(params, tc.params) {
				t.Errorf("parsed %q matching %q = %v %v, want %v %v", tc.path, tc.segments, params, ok, tc.params, tc.want)
			}
		}
	}
}

// TestMatchAllocs: matching is on every request; a path without
// parameters must not allocate, and one with them allocates only the
// parameters.
func TestMatchAllocs(t *testing.T) {
	star, users := Compile("/api/*"), Compile("/users/{id}/x")
	n := testing.AllocsPerRun(100, func() {
		star.Match([]string{"api", "a", "b"})
		star.Match([]string{"other"})
	})
	if n != 0 {
		t.Errorf("Match of a path without parameters allocates %v times, want none", n)
	}
	n = testing.AllocsPerRun(100, func() { users.Match([]string{"users", "42", "x"}) })
	if n != 1 {
		t.Errorf("Match of a path with a parameter allocates %v times, want 1", n)
	}
}
