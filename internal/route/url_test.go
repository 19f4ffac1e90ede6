package route

import (
	"strings"
	"testing"
)

func TestCheckURLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, msg string }{
		{"backend.example.com", "is not an absolute URL (start it with https:// or http://, e.g. https://backend.example.com)"},
		{"ftp://b", `has the scheme "ftp" (use https:// or http://)`},
		{"https:b", `needs "//" after the scheme (e.g. https://backend.example.com)`},
		{"https://u:p@b", `must not contain a user name or password (remove the part before "@"; the backend is authenticated by mtlsCertificate)`},
		{"https://", "has no host (e.g. https://backend.example.com)"},
		{"https://b/#x", `must not contain a fragment ("#...")`},
		{"https://b/?a=1", `must not contain a query string ("?..."); the request's own query string is passed on`},
		{"https://b/?", `must not contain a query string ("?..."); the request's own query string is passed on`},
		{"https://b:0", `has the port "0", which is not between 1 and 65535`},
		{"https://b:65536", `has the port "65536", which is not between 1 and 65535`},
		{"https://b:port", `is not a valid URL: invalid port ":port" after host`},
		{"https://b/a b", "contains ' ' at position 12 (percent-encode it, e.g. %20 for a space)"},
		{"https://bücher.example", "contains 'ü' at position 10 (percent-encode it in the path, and write a non-ASCII host name in punycode)"},
		{"https://b/" + strings.Repeat("a", MaxURLLen), "is 2058 bytes long, over the limit of 2048"},
	} {
		err := CheckURL(tc.url, false)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("CheckURL(%q):\n got %v\nwant %s", tc.url, err, tc.msg)
		}
	}
	for _, ok := range []string{"https://b", "http://10.0.0.1:8080/v1", "https://[::1]:443/a%20b"} {
		if err := CheckURL(ok, false); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", ok, err)
		}
	}
	if err := CheckURL("https://b/?a=1", true); err != nil {
		t.Errorf("CheckURL with a query allowed = %v", err)
	}
}

func TestCheckRewriteRefuses(t *testing.T) {
	id := []string{"id"}
	for _, tc := range []struct {
		pattern string
		params  []string
		msg     string
	}{
		{"https://b/${params.id", id, `has "${" without a closing "}" (write ${params.NAME})`},
		{"https://b/${env.X}", id, `uses "${env.X}", but only ${params.NAME} placeholders are supported, NAME being a {NAME} of the path`},
		{"https://b/${params.1x}", id, `uses "${params.1x}", whose parameter name starts with '1' (start with a letter or _)`},
		{"https://b/${params.uid}", id, `uses "${params.uid}", but the path has {id} (add {uid} to the path or use one of its parameters)`},
		{"https://b/${params.id}", nil, `uses "${params.id}", but the path has no parameters (add {id} to the path or use one of its parameters)`},
		{"https://b/${params.a}", []string{"x", "y"}, `uses "${params.a}", but the path has {x}, {y} (add {a} to the path or use one of its parameters)`},
		{"https://${params.id}/x", id, "must not have ${params...} in the scheme or host (the backend receives the client certificate, so it must be fixed; use placeholders in the path or query)"},
		{"https://b${params.id}/x", id, "must not have ${params...} in the scheme or host (the backend receives the client certificate, so it must be fixed; use placeholders in the path or query)"},
		{"${params.id}", id, "must not have ${params...} in the scheme or host (the backend receives the client certificate, so it must be fixed; use placeholders in the path or query)"},
		{"https://b/${params.id} x", id, "contains ' ' at position 23 (percent-encode it, e.g. %20 for a space)"},
		{"https://b/${params.id}#f", id, `must not contain a fragment ("#...")`},
		{"b/${params.id}", id, "must not have ${params...} in the scheme or host (the backend receives the client certificate, so it must be fixed; use placeholders in the path or query)"},
		{"b/x", id, "is not an absolute URL (start it with https:// or http://, e.g. https://backend.example.com)"},
	} {
		err := CheckRewrite(tc.pattern, tc.params)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("CheckRewrite(%q, %q):\n got %v\nwant %s", tc.pattern, tc.params, err, tc.msg)
		}
	}
	for _, ok := range []string{"https://b/v2/${params.id}", "https://b/?q=${params.id}&r=1", "https://b/x"} {
		if err := CheckRewrite(ok, id); err != nil {
			t.Errorf("CheckRewrite(%q) = %v, want nil", ok, err)
		}
	}
}

func TestRewriteURL(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		params  []Param
		query   string
		want    string
	}{
		{"https://b/v2/${params.id}", []Param{{"id", "42"}}, "", "https://b/v2/42"},
		// A value cannot add a segment before the "?" nor a parameter after.
		{"https://b/v2/${params.id}?q=${params.id}", []Param{{"id", "a/b&c=d"}}, "", "https://b/v2/a%2Fb&c=d?q=a%2Fb%26c%3Dd"},
		{"https://b/x?a=1", nil, "b=2", "https://b/x?a=1&b=2"},
		{"https://b/x", nil, "b=2", "https://b/x?b=2"},
		{"https://b/x?", nil, "", "https://b/x"},
		{"https://b/${params.a}/${params.b}", []Param{{"b", "2"}, {"a", "1"}}, "", "https://b/1/2"},
		// Text that is not a placeholder of the edge's is copied.
		{"https://b/${x}", nil, "", "https://b/$%7Bx%7D"},
		// A character the path must have escaped, next to a placeholder:
		// the value's "/" stays escaped (it used to become a segment).
		{"http://b/{x}${params.id}|^`<>\"\\/y", []Param{{"id", "a/b"}}, "", "http://b/%7Bx%7Da%2Fb%7C%5E%60%3C%3E%22%5C/y"},
		{"http://b/{x}/?q={${params.id}}", []Param{{"id", "a/b"}}, "", "http://b/%7Bx%7D/?q={a%2Fb}"},
	} {
		u, err := CompileRewrite(tc.pattern).URL(tc.params, tc.query)
		if err != nil || u.String() != tc.want {
			t.Errorf("%q with %v and %q = %v, %v; want %s", tc.pattern, tc.params, tc.query, u, err, tc.want)
		}
	}
	for _, tc := range []struct{ pattern, msg string }{
		{"https://b/${params.id}", "rewritePattern uses ${params.id}, which the route path does not have"},
		{"https://b/${params.id", `rewritePattern has "${" without a closing "}"`},
		{"https://b:port/", `rewritePattern gives an invalid URL: invalid port ":port" after host`},
	} {
		u, err := CompileRewrite(tc.pattern).URL(nil, "")
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%q = %v, %v; want the error %s", tc.pattern, u, err, tc.msg)
		}
	}
}
