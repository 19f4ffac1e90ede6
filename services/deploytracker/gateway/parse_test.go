package gateway

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// designExample is the gateway config shown in DESIGN.md, verbatim.
const designExample = `{
  "routes": [
    {
      "path": "/api/*",
      "methods": ["GET", "POST"],
      "handler": {
        "export": "UrlForwardHandler",
        "options": {
          "baseUrl": "https://127.0.0.1:9443",
          "mtlsCertificate": "$env(BACKEND_MTLS_CERT)",
          "caCertificate": "backendCa"
        }
      }
    },
    {
      "path": "/users/{id}",
      "handler": {
        "export": "UrlRewriteHandler",
        "options": { "rewritePattern": "https://127.0.0.1:9443/v2/users/${params.id}", "mtlsCertificate": "myBackendCert" }
      }
    }
  ]
}`

func TestParseDesignExample(t *testing.T) {
	cfg, err := Parse([]byte(designExample), map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{{
		Index:           0,
		Path:            "/api/*",
		Methods:         []string{"GET", "POST"},
		Handler:         URLForwardHandler,
		BaseURL:         "https://127.0.0.1:9443",
		MTLSCertificate: "myBackendCert",
		CACertificate:   "backendCa",
	}, {
		Index:           1,
		Path:            "/users/{id}",
		Handler:         URLRewriteHandler,
		RewritePattern:  "https://127.0.0.1:9443/v2/users/${params.id}",
		MTLSCertificate: "myBackendCert",
	}}
	if !reflect.DeepEqual(cfg.Routes, want) {
		t.Errorf("Parse(DESIGN.md example) =\n%#v\nwant\n%#v", cfg.Routes, want)
	}
	wantRefs := []CertificateRef{
		{Route: 0, Path: "/api/*", Option: "mtlsCertificate", Name: "myBackendCert"},
		{Route: 0, Path: "/api/*", Option: "caCertificate", Name: "backendCa"},
		{Route: 1, Path: "/users/{id}", Option: "mtlsCertificate", Name: "myBackendCert"},
	}
	if refs := cfg.CertificateRefs(); !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("CertificateRefs() = %+v, want %+v", refs, wantRefs)
	}
}

// config builds a one-route config from the JSON of a route.
func config(routes ...string) string {
	return `{"routes": [` + strings.Join(routes, ",") + `]}`
}

// forward builds a UrlForwardHandler route with the given path and options.
func forward(path, options string) string {
	return fmt.Sprintf(`{"path": %q, "handler": {"export": "UrlForwardHandler", "options": {%s}}}`, path, options)
}

// rewrite builds a UrlRewriteHandler route with the given path and options.
func rewrite(path, options string) string {
	return fmt.Sprintf(`{"path": %q, "handler": {"export": "UrlRewriteHandler", "options": {%s}}}`, path, options)
}

const base = `"baseUrl": "https://backend.example.com"`

func TestParseGood(t *testing.T) {
	vars := map[string]string{"HOST": "backend.internal:8443", "CERT": "teamCert", "CA": "teamCa"}
	for _, tc := range []struct {
		name   string
		config string
		want   []Route
	}{
		{"forward, no certificate", config(forward("/", base)),
			[]Route{{Path: "/", Handler: URLForwardHandler, BaseURL: "https://backend.example.com"}}},
		{"module key of the original product", config(`{"path": "/a", "handler": {"module": "$import(@zuplo/runtime)", "export": "UrlForwardHandler", "options": {"baseUrl": "http://10.0.0.1:8080/v1"}}}`),
			[]Route{{Path: "/a", Handler: URLForwardHandler, BaseURL: "http://10.0.0.1:8080/v1"}}},
		{"methods are upper-cased, order kept", config(`{"path": "/a", "methods": ["post", "Get", "OPTIONS"], "handler": {"export": "UrlForwardHandler", "options": {` + base + `}}}`),
			[]Route{{Path: "/a", Methods: []string{"POST", "GET", "OPTIONS"}, Handler: URLForwardHandler, BaseURL: "https://backend.example.com"}}},
		{"empty methods means all", config(`{"path": "/a", "methods": [], "handler": {"export": "UrlForwardHandler", "options": {` + base + `}}}`),
			[]Route{{Path: "/a", Handler: URLForwardHandler, BaseURL: "https://backend.example.com"}}},
		{"$env inside baseUrl", config(forward("/v1/*", `"baseUrl": "https://$env(HOST)/v1", "mtlsCertificate": "$env(CERT)", "caCertificate": "$env(CA)"`)),
			[]Route{{Path: "/v1/*", Handler: URLForwardHandler, BaseURL: "https://backend.internal:8443/v1", MTLSCertificate: "teamCert", CACertificate: "teamCa"}}},
		{"rewrite with two params and a query", config(rewrite("/orgs/{org}/users/{user_id}", `"rewritePattern": "https://$env(HOST)/o/${params.org}/u?id=${params.user_id}"`)),
			[]Route{{Path: "/orgs/{org}/users/{user_id}", Handler: URLRewriteHandler, RewritePattern: "https://backend.internal:8443/o/${params.org}/u?id=${params.user_id}"}}},
		{"literal segments with escapes and unreserved characters", config(forward("/a-b_c.d~e/%20x/*", base)),
			[]Route{{Path: "/a-b_c.d~e/%20x/*", Handler: URLForwardHandler, BaseURL: "https://backend.example.com"}}},
		{"same path, different methods", config(
			`{"path": "/u/{id}", "methods": ["GET"], "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`,
			`{"path": "/u/{id}", "methods": ["PUT", "DELETE"], "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`),
			[]Route{
				{Path: "/u/{id}", Methods: []string{"GET"}, Handler: URLForwardHandler, BaseURL: "https://backend.example.com"},
				{Index: 1, Path: "/u/{id}", Methods: []string{"PUT", "DELETE"}, Handler: URLForwardHandler, BaseURL: "https://backend.example.com"},
			}},
		{"a byte order mark is skipped", "\ufeff" + config(forward("/", base)),
			[]Route{{Path: "/", Handler: URLForwardHandler, BaseURL: "https://backend.example.com"}}},
		{"a variable value is not expanded again", config(forward("/", `"baseUrl": "https://h.example/$env(LOOP)"`)),
			nil}, // filled in below
	} {
		v := vars
		if tc.want == nil {
			v = map[string]string{"LOOP": "$env(LOOP)"}
			tc.want = []Route{{Path: "/", Handler: URLForwardHandler, BaseURL: "https://h.example/$env(LOOP)"}}
		}
		cfg, err := Parse([]byte(tc.config), v)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(cfg.Routes, tc.want) {
			t.Errorf("%s: got\n%#v\nwant\n%#v", tc.name, cfg.Routes, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	vars := map[string]string{"CERT": "my-backend-cert", "EMPTY": "", "HOST": "evil.example/x?y=1", "USERINFO": "user:secret@host"}
	for _, tc := range []struct {
		name   string
		config string
		route  int
		option string
		want   string
	}{
		// The whole file.
		{"empty", "  \n", -1, "", "gateway config is empty"},
		{"syntax", "{\n  \"routes\": [\n    {\"path\" \"/a\"}\n  ]\n}", -1, "", `line 3, column 13: invalid character '"' after object key`},
		{"truncated", `{"routes": [`, -1, "", "line 1, column 13: unexpected end of JSON input"},
		{"trailing data", `{"routes": []} x`, -1, "", "line 1, column 16"},
		{"not UTF-8", "{\"routes\": [\"\xff\"]}", -1, "", "not valid UTF-8: line 1, column 14"},
		{"too big", `{"routes": [` + strings.Repeat(" ", MaxConfigBytes) + `]}`, -1, "", "over the limit of 256 KiB"},
		{"top-level array", `[]`, -1, "", "must be a JSON object"},
		{"top-level typo", `{"route": []}`, -1, "", `unknown key "route" (did you mean "routes"?`},
		{"two unknown keys", `{"version": 1, "route": []}`, -1, "", `unknown keys "version" and "route" (did you mean "routes" for "route"?`},
		{"non-ASCII host", config(forward("/a", `"baseUrl": "https://bücher.example"`)), 0, "baseUrl", "contains 'ü' at position 10 (percent-encode it in the path, and write a non-ASCII host name in punycode)"},
		{"no routes", `{}`, -1, "", `has no "routes"`},
		{"routes not array", `{"routes": {}}`, -1, "", `"routes" must be an array of routes, not an object`},
		{"no route", `{"routes": []}`, -1, "", `"routes" is empty`},
		{"too many routes", config(strings.Repeat(forward("/a", base)+",", MaxRoutes) + forward("/b", base)), -1, "", "501 routes, over the limit of 500"},
		{"duplicate top key", `{"routes": [], "routes": []}`, -1, "", `the key "routes" twice`},

		// Route shape.
		{"route not object", config(`"/a"`), 0, "", "route 1: must be an object"},
		{"no path", config(`{"handler": {}}`), 0, "path", `route 1: has no "path"`},
		{"path not string", config(`{"path": 1}`), 0, "path", `"path" must be a string`},
		{"unknown route key", config(`{"path": "/a", "method": ["GET"]}`), 0, "method", `route 1 ("/a"): has unknown key "method" (did you mean "methods"?`},
		{"duplicate route key", config(`{"path": "/a", "path": "/b"}`), 0, "path", `has the key "path" twice`},
		{"no handler", config(`{"path": "/a"}`), 0, "handler", `route 1 ("/a"): has no "handler"`},

		// Paths.
		{"relative path", config(forward("api", base)), 0, "path", `path must start with "/" (e.g. "/api")`},
		{"double slash", config(forward("/a//b", base)), 0, "path", `empty segment ("//")`},
		{"trailing slash", config(forward("/a/", base)), 0, "path", `must not end with "/" (write "/a", or "/a/*"`},
		{"dot dot", config(forward("/a/../b", base)), 0, "path", `must not contain a ".." segment`},
		{"encoded dot dot", config(forward("/a/%2e%2E/b", base)), 0, "path", `must not contain a ".." segment`},
		{"encoded slash", config(forward("/a%2Fb", base)), 0, "path", `must not contain %2F`},
		{"bad escape", config(forward("/a%2", base)), 0, "path", `does not start an escape`},
		{"query string", config(forward("/a?b=1", base)), 0, "path", "must not contain a query string"},
		{"wildcard in the middle", config(forward("/*/a", base)), 0, "path", `"*" as its last segment`},
		{"glued wildcard", config(forward("/a*", base)), 0, "path", `"*" as a whole last segment`},
		{"space in path", config(forward("/a b", base)), 0, "path", `has ' ' at position 3`},
		{"partial param", config(forward("/files/{name}.json", base)), 0, "path", "not a whole segment"},
		{"bad param name", config(forward("/u/{1d}", base)), 0, "path", "parameter {1d}: starts with '1'"},
		{"repeated param", config(forward("/u/{id}/x/{id}", base)), 0, "path", "has the parameter {id} twice"},
		{"duplicate route", config(forward("/x", base), forward("/u/{id}", base), forward("/u/{uid}", base)), 2, "path",
			`route 3 ("/u/{uid}"): matches the same requests as route 2 ("/u/{id}") for every method`},
		{"duplicate method", config(
			`{"path": "/u", "methods": ["GET", "POST"], "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`,
			`{"path": "/u", "methods": ["post"], "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`), 1, "path", "for method POST"},
		{"duplicate route, one serving all methods", config(
			`{"path": "/u", "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`,
			`{"path": "/u", "methods": ["DELETE"], "handler": {"export": "UrlForwardHandler", "options": {`+base+`}}}`), 1, "path", "for method DELETE"},

		// Methods.
		{"methods not array", config(`{"path": "/a", "methods": "GET"}`), 0, "methods", `"methods" must be an array`},
		{"unknown method", config(`{"path": "/a", "methods": ["GET", "FETCH"]}`), 0, "methods", `methods[1] "FETCH" is not a supported HTTP method (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`},
		{"lookalike method", config(`{"path": "/a", "methods": ["poſt"]}`), 0, "methods", "is not a supported HTTP method"},
		{"repeated method", config(`{"path": "/a", "methods": ["get", "GET"]}`), 0, "methods", "methods lists GET twice"},
		{"method not string", config(`{"path": "/a", "methods": [1]}`), 0, "methods", "methods[0] must be a string"},

		// Handler block.
		{"handler not object", config(`{"path": "/a", "handler": "UrlForwardHandler"}`), 0, "handler", `"handler" must be an object`},
		{"unknown handler key", config(`{"path": "/a", "handler": {"exports": "UrlForwardHandler"}}`), 0, "handler", `unknown key "exports" (did you mean "export"?`},
		{"no export", config(`{"path": "/a", "handler": {"options": {}}}`), 0, "handler.export", `handler has no "export"`},
		{"export case", config(`{"path": "/a", "handler": {"export": "urlForwardHandler"}}`), 0, "handler.export", `did you mean "UrlForwardHandler"?`},
		{"export shortened", config(`{"path": "/a", "handler": {"export": "UrlRewrite"}}`), 0, "handler.export", `did you mean "UrlRewriteHandler"?`},
		{"export unknown", config(`{"path": "/a", "handler": {"export": "ReturnHandler"}}`), 0, "handler.export", `"ReturnHandler" is not a supported handler (use "UrlForwardHandler" or "UrlRewriteHandler")`},
		{"no options", config(`{"path": "/a", "handler": {"export": "UrlForwardHandler"}}`), 0, "handler.options", `handler has no "options" (UrlForwardHandler needs at least "baseUrl"`},
		{"options not object", config(`{"path": "/a", "handler": {"export": "UrlForwardHandler", "options": []}}`), 0, "handler.options", "must be an object"},

		// Options.
		{"no baseUrl", config(forward("/a", `"mtlsCertificate": "c"`)), 0, "baseUrl", `option "baseUrl": is missing (UrlForwardHandler needs it`},
		{"no rewritePattern", config(rewrite("/a", "")), 0, "rewritePattern", "UrlRewriteHandler needs it"},
		{"option of the other handler", config(forward("/a", `"rewritePattern": "https://h/x"`)), 0, "rewritePattern", "use UrlRewriteHandler for rewritePattern"},
		{"option typo", config(forward("/a", `"baseURL": "https://h"`)), 0, "baseURL", `did you mean "baseUrl"?`},
		{"unknown option", config(forward("/a", base+`, "timeout": 5`)), 0, "timeout", `takes "baseUrl", "mtlsCertificate" and "caCertificate"`},
		{"repeated option", config(forward("/a", base+`, "baseUrl": "https://x"`)), 0, "baseUrl", "is given twice"},
		{"baseUrl not string", config(forward("/a", `"baseUrl": 1`)), 0, "baseUrl", `route 1 ("/a") option "baseUrl": must be a string, not a number`},
		{"certificate null", config(forward("/a", base+`, "caCertificate": null`)), 0, "caCertificate", "must be a string, not null"},

		// $env.
		{"unset variable", config(forward("/api/*", base+`, "mtlsCertificate": "$env(BACKEND_MTLS_CERT)"`)), 0, "mtlsCertificate",
			`route 1 ("/api/*") option "mtlsCertificate": variable BACKEND_MTLS_CERT is not set (pass --var BACKEND_MTLS_CERT=... to certbind deploy, or put it in the --env-file)`},
		{"unset variable in URL", config(forward("/a", `"baseUrl": "https://$env(NOPE)/v1"`)), 0, "baseUrl", "variable NOPE is not set"},
		{"unclosed $env", config(forward("/a", `"baseUrl": "https://$env(HOST/v1"`)), 0, "baseUrl", `without a closing ")"`},
		{"bad $env name", config(forward("/a", `"baseUrl": "https://$env(my-host)/v1"`)), 0, "baseUrl", `"$env(my-host)", whose variable name has '-' at position 3`},
		{"empty $env name", config(forward("/a", base+`, "mtlsCertificate": "$env()"`)), 0, "mtlsCertificate", "variable name is empty"},
		{"$env inside a certificate name", config(forward("/a", base+`, "mtlsCertificate": "cert$env(CERT)"`)), 0, "mtlsCertificate", "exactly one $env(NAME)"},
		{"empty variable for certificate", config(forward("/a", base+`, "mtlsCertificate": "$env(EMPTY)"`)), 0, "mtlsCertificate", "variable EMPTY is empty"},
		{"empty certificate", config(forward("/a", base+`, "caCertificate": ""`)), 0, "caCertificate", "is empty (give a certificate name, or remove the option"},
		{"bad certificate name", config(forward("/a", base+`, "mtlsCertificate": "my-backend-cert"`)), 0, "mtlsCertificate",
			`option "mtlsCertificate": certificate name "my-backend-cert" is not a valid JavaScript identifier`},
		{"bad certificate name from variable", config(forward("/a", base+`, "caCertificate": "$env(CERT)"`)), 0, "caCertificate",
			`option "caCertificate": variable CERT: certificate name "my-backend-cert" is not a valid JavaScript identifier: '-' at position 3 is not allowed (use letters, digits, _ or $; e.g. "myBackendCert")`},
		{"variable brings a query", config(forward("/a", `"baseUrl": "https://$env(HOST)"`)), 0, "baseUrl", `"https://evil.example/x?y=1" (after $env substitution) must not contain a query string`},

		// URLs.
		{"relative baseUrl", config(forward("/a", `"baseUrl": "/v1"`)), 0, "baseUrl", "is not an absolute URL"},
		{"ftp baseUrl", config(forward("/a", `"baseUrl": "ftp://h/"`)), 0, "baseUrl", `has the scheme "ftp" (use https:// or http://)`},
		{"no host", config(forward("/a", `"baseUrl": "https:///v1"`)), 0, "baseUrl", "has no host"},
		{"opaque", config(forward("/a", `"baseUrl": "https:backend"`)), 0, "baseUrl", `needs "//" after the scheme`},
		{"user info is not echoed", config(forward("/a", `"baseUrl": "https://$env(USERINFO)/"`)), 0, "baseUrl", `the URL (after $env substitution) must not contain a user name or password`},
		{"fragment", config(forward("/a", `"baseUrl": "https://h/#x"`)), 0, "baseUrl", "must not contain a fragment"},
		{"bad port", config(forward("/a", `"baseUrl": "https://h:99999/"`)), 0, "baseUrl", `has the port "99999"`},
		{"space in URL", config(forward("/a", `"baseUrl": "https://h/a b"`)), 0, "baseUrl", "contains ' ' at position 12"},
		{"unknown placeholder", config(rewrite("/u/{id}", `"rewritePattern": "https://h/u/${params.userId}"`)), 0, "rewritePattern",
			`uses "${params.userId}", but the path has {id} (add {userId} to the path`},
		{"placeholder without params", config(rewrite("/u", `"rewritePattern": "https://h/u/${params.id}"`)), 0, "rewritePattern", "the path has no parameters"},
		{"other placeholder", config(rewrite("/u", `"rewritePattern": "https://h${request.path}"`)), 0, "rewritePattern", "only ${params.NAME} placeholders are supported"},
		{"unclosed placeholder", config(rewrite("/u/{id}", `"rewritePattern": "https://h/${params.id"`)), 0, "rewritePattern", `"${" without a closing "}"`},
		{"placeholder in host", config(rewrite("/t/{tenant}", `"rewritePattern": "https://${params.tenant}.example.com/"`)), 0, "rewritePattern", "must not have ${params...} in the scheme or host"},
		{"placeholder in port", config(rewrite("/t/{port}", `"rewritePattern": "https://h:${params.port}/"`)), 0, "rewritePattern", "${params...} in the scheme or host"},
		{"rewrite fragment", config(rewrite("/a", `"rewritePattern": "https://h/x#y"`)), 0, "rewritePattern", "fragment"},

		// The route index in errors is that of the faulty route.
		{"error in a later route", config(forward("/a", base), forward("/b", `"baseUrl": "h"`)), 1, "baseUrl", `route 2 ("/b") option "baseUrl"`},
	} {
		cfg, err := Parse([]byte(tc.config), vars)
		var perr *Error
		if !errors.As(err, &perr) {
			t.Errorf("%s: Parse = %v, %v; want an *Error", tc.name, cfg, err)
			continue
		}
		if cfg != nil || perr.Route != tc.route || perr.Option != tc.option || !strings.Contains(perr.Msg, tc.want) {
			t.Errorf("%s: got route %d, option %q, message\n  %s\nwant route %d, option %q, message containing\n  %s",
				tc.name, perr.Route, perr.Option, perr.Msg, tc.route, tc.option, tc.want)
		}
		if perr.Error() != perr.Msg {
			t.Errorf("%s: Error() = %q, want Msg %q", tc.name, perr.Error(), perr.Msg)
		}
		if strings.Contains(perr.Msg, "secret") {
			t.Errorf("%s: message repeats a password: %s", tc.name, perr.Msg)
		}
	}
}

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		r      Route
		option string
		want   string
	}{
		{Route{Index: 2, Path: "/users/{id}"}, "mtlsCertificate", `route 3 ("/users/{id}") option "mtlsCertificate"`},
		{Route{Index: 0, Path: "/a"}, "", `route 1 ("/a")`},
		{Route{Index: 7}, "baseUrl", `route 8 option "baseUrl"`},
		{Route{Index: 1, Path: "/" + strings.Repeat("a", 100)}, "", `route 2 ("/` + strings.Repeat("a", 63) + `"…)`},
		{Route{Index: 1, Path: "/a\n\x1b"}, "", `route 2 ("/a\n\x1b")`},
	} {
		if got := tc.r.Where(tc.option); got != tc.want {
			t.Errorf("%+v.Where(%q) = %s, want %s", tc.r, tc.option, got, tc.want)
		}
	}
}

func TestCertificateRefsEmpty(t *testing.T) {
	cfg, err := Parse([]byte(config(forward("/", base))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if refs := cfg.CertificateRefs(); len(refs) != 0 {
		t.Errorf("CertificateRefs() = %+v, want none", refs)
	}
}
