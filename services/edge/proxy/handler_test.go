package proxy_test

import (
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

func TestRouting(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	api := forward("/api/*", be.URL+"/base/", cert)
	api.Methods = []string{"GET", "POST"}
	root := forward("/", be.URL, cert)
	root.Methods = []string{"GET"}
	e.deploy([]state.Route{
		api,
		rewrite("/users/{id}", be.URL+"/v2/users/${params.id}?src=edge", cert),
		rewrite("/search/{term}", be.URL+"/find?q=${params.term}", cert),
		rewrite("/files/{dir}/*", be.URL+"/d/${params.dir}", cert),
		root,
	}, cert)

	for _, tc := range []struct {
		method, path string
		// For a 200, what the backend saw; otherwise the error code.
		wantPath, wantQuery string
		wantStatus          int
		wantError           string
	}{
		{method: "GET", path: "/api/items?q=1&r=a%20b", wantPath: "/base/api/items", wantQuery: "q=1&r=a%20b"},
		{method: "POST", path: "/api/items", wantPath: "/base/api/items"},
		{method: "GET", path: "/api", wantPath: "/base/api"},
		{method: "GET", path: "/api/", wantPath: "/base/api/"},
		{method: "GET", path: "/api/a%2Fb/c", wantStatus: 400, wantError: "path_not_allowed"},
		{method: "GET", path: "/apis", wantStatus: 404, wantError: "route_not_found"},
		{method: "DELETE", path: "/api/items", wantStatus: 405, wantError: "method_not_allowed"},
		{method: "GET", path: "/users/42?x=y", wantPath: "/v2/users/42", wantQuery: "src=edge&x=y"},
		{method: "DELETE", path: "/users/42", wantPath: "/v2/users/42", wantQuery: "src=edge"},
		{method: "GET", path: "/users/a%2Fb", wantStatus: 400, wantError: "path_not_allowed"},
		{method: "GET", path: "/users/a%20b", wantPath: "/v2/users/a%20b", wantQuery: "src=edge"},
		{method: "GET", path: "/users/", wantStatus: 404, wantError: "route_not_found"},
		{method: "GET", path: "/users/42/more", wantStatus: 404, wantError: "route_not_found"},
		{method: "GET", path: "/search/a&b=c", wantPath: "/find", wantQuery: "q=a%26b%3Dc"},
		{method: "GET", path: "/files/docs", wantPath: "/d/docs"},
		{method: "GET", path: "/files/docs/x/y", wantPath: "/d/docs"},
		{method: "GET", path: "", wantPath: "/"},
		{method: "GET", path: "/", wantPath: "/"},
		{method: "POST", path: "/", wantStatus: 405, wantError: "method_not_allowed"},
		{method: "GET", path: "/api/../admin", wantStatus: 400, wantError: "path_not_allowed"},
		{method: "GET", path: "/api/%2e%2e/admin", wantStatus: 400, wantError: "path_not_allowed"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := e.do(t, tc.method, e.url(tc.path), nil)
			if tc.wantError != "" {
				resp.apiError(t, tc.wantStatus, tc.wantError)
				return
			}
			got := resp.echo(t)
			if got.Method != tc.method || got.Path != tc.wantPath || got.Query != tc.wantQuery {
				t.Errorf("backend saw %s %s ? %s, want %s %s ? %s", got.Method, got.Path, got.Query, tc.method, tc.wantPath, tc.wantQuery)
			}
			if got.Subject != "CN=edge client" || got.Chain != 2 {
				t.Errorf("backend saw client certificate %q with a chain of %d, want %q with 2", got.Subject, got.Chain, "CN=edge client")
			}
		})
	}

	t.Run("Allow", func(t *testing.T) {
		resp := e.do(t, "PUT", e.url("/api/x"), nil)
		if got := resp.header.Get("Allow"); got != "GET, POST" {
			t.Errorf("Allow %q, want %q", got, "GET, POST")
		}
	})
	for _, path := range []string{"/acme/shop/staging/api/x", "/acme/shop", "/", "/acme/other/prod/api"} {
		t.Run("no deployment "+path, func(t *testing.T) {
			e.do(t, "GET", e.baseURL+path, nil).apiError(t, 404, "deployment_not_found")
		})
	}
}

// TestCertificateUnavailable checks that a route whose certificate the edge
// cannot use is answered 502, names the certificate, and sends nothing.
func TestCertificateUnavailable(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	plain := newBackend(t, nil, nil, nil)
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	devOnly := p.clientCert(t, "cert-dev", "devCert", "dev client", 1)
	devOnly.EnvironmentTypes = []string{"development"}
	noKey := *cert
	noKey.ID, noKey.TLS = "cert-nokey", nil
	ca := caCert("ca-1", "backendCa", p.root)

	withCA := func(r state.Route, id, name string) state.Route {
		r.CACertificateID, r.CACertificateName = id, name
		return r
	}
	for _, tc := range []struct {
		name      string
		route     state.Route
		certs     []*state.Certificate
		code      string
		option    string
		certName  string
		reason    string
		noBackend *backend
	}{
		{
			name:  "client certificate missing",
			route: forward("/*", be.URL, &state.Certificate{ID: "cert-gone", Name: "goneCert"}),
			code:  "certificate_unavailable", option: "mtlsCertificate", certName: "goneCert",
			reason: "not on this edge (deleted or not yet received)",
		},
		{
			name:  "client certificate without material",
			route: forward("/*", be.URL, &noKey), certs: []*state.Certificate{&noKey},
			code: "certificate_unavailable", option: "mtlsCertificate", certName: "myBackendCert",
			reason: "not on this edge",
		},
		{
			name:  "client certificate is a CA",
			route: forward("/*", be.URL, ca), certs: []*state.Certificate{ca},
			code: "certificate_unavailable", option: "mtlsCertificate", certName: "backendCa",
			reason: "is a CA certificate",
		},
		{
			name:  "not allowed in this environment type",
			route: forward("/*", be.URL, devOnly), certs: []*state.Certificate{devOnly},
			code: "certificate_unavailable", option: "mtlsCertificate", certName: "devCert",
			reason: "not allowed in production environments",
		},
		{
			name:  "CA missing",
			route: withCA(forward("/*", be.URL, cert), "ca-gone", "goneCa"), certs: []*state.Certificate{cert},
			code: "certificate_unavailable", option: "caCertificate", certName: "goneCa",
			reason: "not on this edge",
		},
		{
			name:  "CA is a client certificate",
			route: withCA(forward("/*", be.URL, cert), cert.ID, cert.Name), certs: []*state.Certificate{cert},
			code: "certificate_unavailable", option: "caCertificate", certName: "myBackendCert",
			reason: "is a client certificate",
		},
		{
			name:  "mTLS over http",
			route: forward("/*", plain.URL, cert), certs: []*state.Certificate{cert},
			code: "mtls_requires_https", option: "mtlsCertificate", certName: "myBackendCert", noBackend: plain,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEdge(t, certPool(p.root))
			e.deploy([]state.Route{tc.route}, tc.certs...)
			target := tc.noBackend
			if target == nil {
				target = be
			}
			before := target.conns.Load()
			got := e.get(t, "/x").apiError(t, http.StatusBadGateway, tc.code)
			if got.Option != tc.option || got.Certificate != tc.certName {
				t.Errorf("names option %q certificate %q, want %q %q", got.Option, got.Certificate, tc.option, tc.certName)
			}
			contains(t, "reason", got.Reason, tc.reason)
			contains(t, "message", got.Message, `"/*"`, tc.certName)
			if n := target.conns.Load() - before; n != 0 {
				t.Errorf("backend accepted %d connections, want none", n)
			}
			if e.handler.Pools() != 0 {
				t.Errorf("%d pools made for a request that was not sent", e.handler.Pools())
			}
		})
	}
}

// TestCertificateStates checks that disabled and deleting certificates keep
// serving the deployments that use them, and that a CA certificate verifies
// the backend in place of the edge's roots.
func TestCertificateStates(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	// The edge's own roots do not trust the backend: only the CA can.
	e := newEdge(t, x509.NewCertPool())
	ca := caCert("ca-1", "backendCa", p.root)
	for _, st := range []string{"active", "disabled", "deleting"} {
		t.Run(st, func(t *testing.T) {
			cert := p.clientCert(t, "cert-"+st, st+"Cert", st+" client", 1)
			cert.State = st
			r := forward("/*", be.URL, cert)
			r.CACertificateID, r.CACertificateName = ca.ID, ca.Name
			e.deploy([]state.Route{r}, cert, ca)
			if got := e.get(t, "/x").echo(t); got.Subject != "CN="+st+" client" {
				t.Errorf("backend saw %q", got.Subject)
			}
		})
	}
}

func TestBackendFailures(t *testing.T) {
	p := newPKI(t)
	other := testpki.NewCA(t, "Other Root")
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)

	// A backend that only trusts client certificates of another CA.
	picky := newBackend(t, p.root, other, nil)
	// A backend whose own certificate the edge does not trust.
	untrusted := newBackend(t, other, p.root, nil)
	slow := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name   string
		url    string
		status int
		code   string
		says   []string
	}{
		{"client certificate rejected", picky.URL, 502, "backend_rejected_client_certificate", []string{"rejected", "myBackendCert"}},
		{"backend not trusted", untrusted.URL, 502, "backend_certificate_not_trusted", []string{"not trusted", "caCertificate"}},
		{"slow backend", slow.URL, 504, "backend_timeout", []string{"did not answer in time"}},
		{"unreachable", "https://" + closedAddr, 502, "backend_unreachable", []string{"cannot be reached", closedAddr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEdge(t, certPool(p.root), func(c *proxy.Config) { c.BackendTimeout = 200 * time.Millisecond })
			e.deploy([]state.Route{forward("/*", tc.url, cert)}, cert)
			got := e.get(t, "/x").apiError(t, tc.status, tc.code)
			if got.Route != "/*" || got.Certificate != "myBackendCert" {
				t.Errorf("names route %q certificate %q", got.Route, got.Certificate)
			}
			contains(t, "message", got.Message, tc.says...)
		})
	}
	if n := picky.requests.Load() + untrusted.requests.Load(); n != 0 {
		t.Errorf("%d requests reached a backend that refused the TLS connection", n)
	}
}
