package suite_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/testpki"
)

type pki struct {
	clientCA, backendCA, backendCert *testpki.Cert
}

func newPKI(t *testing.T) pki {
	backendCA := testpki.NewCA(t, "Backend CA")
	return pki{
		clientCA:    testpki.NewCA(t, "Client CA"),
		backendCA:   backendCA,
		backendCert: e2etest.ServerCert(t, backendCA),
	}
}

func upload(t *testing.T, s *suite.Suite, name string, leaf *testpki.Cert) string {
	t.Helper()
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": name,
		"environmentTypes": []string{"production"}, "certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
	if r.status != 200 {
		t.Fatalf("upload %s: %d %s", name, r.status, r.raw)
	}
	return r.body["id"].(string)
}

func deploy(t *testing.T, s *suite.Suite, backend string, vars map[string]string, mtls string) {
	t.Helper()
	cfg := map[string]any{"routes": []any{map[string]any{"path": "/api/*", "handler": map[string]any{"export": "UrlForwardHandler",
		"options": map[string]any{"baseUrl": backend, "mtlsCertificate": mtls, "caCertificate": "backendCa"}}}}}
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/deployments",
		map[string]any{"environment": "production", "environmentType": "production", "config": cfg, "variables": vars})
	if r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}
}

// TestEdgeRotationsUnderLoad runs DESIGN's workflow through the edge with
// continuous concurrent load: rotation in place, then the five-step
// rotation to a new certificate, with zero failed requests.
func TestEdgeRotationsUnderLoad(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	p := newPKI(t)
	backend := e2etest.MTLSBackend(t, p.backendCert, p.clientCA)
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	oldID := upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client-v1"}))
	deploy(t, s, backend.URL, map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"}, "$env(BACKEND_MTLS_CERT)")
	url := s.EdgeURL + "/acme/shop/production/api/hello"
	if body := e2etest.Eventually(t, url, 200, "CN=client-v1"); !strings.Contains(body, "path=/api/hello") {
		t.Fatalf("backend saw %s", body)
	}

	// Rotation in place: same id and name, new material.
	l := e2etest.StartLoad(url, 8)
	time.Sleep(200 * time.Millisecond)
	v2 := p.clientCA.Issue(t, testpki.Options{CommonName: "client-v2"})
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID+":rotate",
		map[string]any{"certificatePem": string(v2.CertPEM), "privateKeyPem": string(v2.KeyPEM)})
	if r.status != 200 || r.body["version"] != float64(2) {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	e2etest.Eventually(t, url, 200, "CN=client-v2")
	time.Sleep(200 * time.Millisecond)
	l.Finish(t, "rotation in place")

	// The five steps: upload new under a new name, switch the variable,
	// disable the old one, deploy, verify, delete the old one.
	l = e2etest.StartLoad(url, 8)
	time.Sleep(200 * time.Millisecond)
	upload(t, s, "myBackendCertV3", p.clientCA.Issue(t, testpki.Options{CommonName: "client-v3"}))
	vars := map[string]string{"BACKEND_MTLS_CERT": "myBackendCertV3"}
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable old: %d %s", r.status, r.raw)
	}
	time.Sleep(200 * time.Millisecond) // the running deployment still uses the disabled certificate
	deploy(t, s, backend.URL, vars, "$env(BACKEND_MTLS_CERT)")
	e2etest.Eventually(t, url, 200, "CN=client-v3")
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID, nil); r.status != 200 {
		t.Fatalf("delete old after the deploy: %d %s", r.status, r.raw)
	}
	time.Sleep(200 * time.Millisecond)
	if body := l.Finish(t, "five-step rotation"); !strings.Contains(body, "CN=client-v3") {
		t.Fatalf("after the rotation the backend saw %s", body)
	}

	// Status and metrics show what is in use.
	req, _ := http.NewRequest("GET", s.EdgeAdminURL+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer admin-0123456789abcdef0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(status), "myBackendCertV3") || strings.Contains(string(status), oldID) {
		t.Fatalf("status: %d %s", resp.StatusCode, status)
	}
	if resp, _ := http.Get(s.EdgeAdminURL + "/v1/status"); resp.StatusCode != 401 {
		t.Fatalf("status without a key: %d", resp.StatusCode)
	}
	resp, err = http.Get(s.EdgeAdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`certbind_edge_requests_total{code="200",route="/api/*"}`, "certbind_edge_backend_tls_handshakes_total", "certbind_edge_certificate_version", "certbind_edge_stream_lag_seconds"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestEdgeRefusesWithoutCertificate: a route whose certificate is gone
// answers 502 naming it and sends nothing; a backend that wants another
// client certificate, or whose certificate is not trusted, is a clear 502.
func TestEdgeBackendFailures(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	p := newPKI(t)
	otherCA := testpki.NewCA(t, "Other Client CA")
	picky := e2etest.MTLSBackend(t, p.backendCert, otherCA) // wants certificates from another CA
	call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client"}))
	deploy(t, s, picky.URL, nil, "myBackendCert")
	url := s.EdgeURL + "/acme/shop/production/api/x"
	e2etest.Eventually(t, url, 502, "backend_rejected_client_certificate")
	// A backend whose certificate the route's CA did not sign.
	stranger := testpki.NewCA(t, "Stranger")
	untrusted := e2etest.MTLSBackend(t, e2etest.ServerCert(t, stranger), p.clientCA)
	deploy(t, s, untrusted.URL, nil, "myBackendCert")
	e2etest.Eventually(t, url, 502, "backend_certificate_not_trusted")
}
