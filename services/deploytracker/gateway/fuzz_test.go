package gateway

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/internal/validate"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample), "BACKEND_MTLS_CERT", "myBackendCert")
	f.Add([]byte(config(rewrite("/u/{id}/*", `"rewritePattern": "https://$env(H)/u/${params.id}?q=${params.id}", "caCertificate": "$env(H)"`))), "H", "h")
	f.Add([]byte(config(forward("/a%2e/{x}", `"baseUrl": "http://[::1]:80/$env(V)"`), `{"path": "/a", "methods": ["get"], "handler": {"module": 1, "export": "UrlForwardHandler", "options": {`+base+`}}}`)), "V", "v")
	f.Add([]byte(`{"routes": [{"path": "/a", "path": "/b"}]}`), "", "")
	f.Add([]byte("{\"routes\": [\n\"\xff\"]}"), "A", "\x00")
	f.Fuzz(func(t *testing.T, data []byte, name, value string) {
		cfg, err := Parse(data, map[string]string{name: value})
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Msg == "" || perr.Error() != perr.Msg {
				t.Fatalf("Parse error %#v is not a complete *Error", err)
			}
			switch {
			case perr.Route == -1 && (perr.Option != "" || !strings.HasPrefix(perr.Msg, "gateway config ")),
				perr.Route >= 0 && !strings.HasPrefix(perr.Msg, fmt.Sprintf("route %d", perr.Route+1)),
				perr.Route < -1 || perr.Route >= MaxRoutes:
				t.Fatalf("Parse error has route %d, option %q: %s", perr.Route, perr.Option, perr.Msg)
			}
			return
		}
		if len(cfg.Routes) == 0 || len(cfg.Routes) > MaxRoutes {
			t.Fatalf("Parse accepted %d routes", len(cfg.Routes))
		}
		for i, r := range cfg.Routes {
			if r.Index != i || !strings.HasPrefix(r.Path, "/") {
				t.Fatalf("route %d: index %d, path %q", i, r.Index, r.Path)
			}
			if _, err := route.ParsePath(r.Path); err != nil {
				t.Fatalf("route %d: accepted path %q: %v", i, r.Path, err)
			}
			switch r.Handler {
			case URLForwardHandler:
				if r.BaseURL == "" || r.RewritePattern != "" || route.CheckURL(r.BaseURL, false) != nil {
					t.Fatalf("route %d: forward route with baseUrl %q, rewritePattern %q", i, r.BaseURL, r.RewritePattern)
				}
			case URLRewriteHandler:
				if r.RewritePattern == "" || r.BaseURL != "" {
					t.Fatalf("route %d: rewrite route with baseUrl %q, rewritePattern %q", i, r.BaseURL, r.RewritePattern)
				}
			default:
				t.Fatalf("route %d: handler %q", i, r.Handler)
			}
			for _, cert := range []string{r.MTLSCertificate, r.CACertificate} {
				if cert != "" && validate.CertificateName(cert) != nil {
					t.Fatalf("route %d: accepted certificate name %q", i, cert)
				}
			}
			for _, m := range r.Methods {
				if !slices.Contains(httpMethods, m) {
					t.Fatalf("route %d: accepted method %q", i, m)
				}
			}
		}
		for _, ref := range cfg.CertificateRefs() {
			r := cfg.Routes[ref.Route]
			if ref.Path != r.Path || ref.Name == "" || (ref.Name != r.MTLSCertificate && ref.Name != r.CACertificate) {
				t.Fatalf("CertificateRefs gave %+v for route %+v", ref, r)
			}
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	for _, seed := range []string{
		"", "A=1\n# c\nexport B='x y'\nC=\"a\\nb\\\"\" # n\n", "A=\"\\q\"", "A='", "\ufeffA=1\r\n", "A=1\nA=2", "1=2", "A= #x\nB=#y",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := ParseEnvFile(data)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Route != -1 || !strings.HasPrefix(perr.Msg, "env file ") {
				t.Fatalf("ParseEnvFile error %#v", err)
			}
			return
		}
		if err := ValidateVariables(vars); err != nil {
			t.Fatalf("ParseEnvFile returned variables that ValidateVariables refuses: %v", err)
		}
		// Written back double-quoted, the variables must read the same:
		// that checks the escapes both ways.
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			b.WriteString(k + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(vars[k]) + "\"\n")
		}
		again, err := ParseEnvFile([]byte(b.String()))
		if err != nil || !maps.Equal(again, vars) {
			t.Fatalf("round trip of %q through\n%s\ngave %q, %v", vars, b.String(), again, err)
		}
	})
}

func FuzzEnvSubstitution(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://$env(V)/x", "h"}, {"$env(V)$env(V)", "$env(V)"}, {"$env(V", "x"}, {"$env(W)", ""}, {"$env()", ""}, {"$$env(V))", ")"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, value string) {
		vars := map[string]string{"V": value}
		got, err := expandEnv(s, vars)
		if !strings.Contains(s, envOpen) && (err != nil || got != s) {
			t.Fatalf("expandEnv(%q) = %q, %v; want it unchanged", s, got, err)
		}
		if err != nil {
			return
		}
		// With V the only variable, success means every reference was
		// $env(V), and each is replaced by value exactly once.
		if want := strings.ReplaceAll(s, "$env(V)", value); got != want {
			t.Fatalf("expandEnv(%q) with V=%q = %q, want %q", s, value, got, want)
		}
		if len(got) > max(len(s), maxExpandedLen) {
			t.Fatalf("expandEnv(%q) grew to %d bytes", s, len(got))
		}
		if name, ok := wholeEnv(s); ok && (name != "V" || got != value) {
			t.Fatalf("wholeEnv(%q) = %q, but expandEnv gave %q", s, name, got)
		}
	})
}
