package suite_test

import (
	"net/http"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestEdgeCertificateMetrics: a backend that rejects the client
// certificate shows on the edge's /metrics under that certificate, with
// the reason, as do requests and a backend the route's CA does not trust.
func TestEdgeCertificateMetrics(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	p := newPKI(t)
	otherCA := testpki.NewCA(t, "Other Client CA")
	picky := e2etest.MTLSBackend(t, p.backendCert, otherCA) // wants certificates from another CA
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	caID := r.body["id"].(string)
	id := upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client"}))
	deploy(t, s, picky.URL, nil, "myBackendCert")
	url := s.EdgeURL + "/acme/shop/production/api/x"
	e2etest.Eventually(t, url, 502, "backend_rejected_client_certificate")

	cert := map[string]string{"certificate_id": id, "account": "acme", "project": "shop", "name": "myBackendCert"}
	with := func(l map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range l {
			out[a] = b
		}
		return out
	}
	rejected := with(cert, "reason", "backend_rejected_client_certificate")
	metrics := s.EdgeAdminURL + "/metrics"
	before := e2etest.Scrape(t, metrics)
	const n = 3
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("request to the picky backend: %d, want 502", resp.StatusCode)
		}
	}
	after := e2etest.Scrape(t, metrics)
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"certbind_edge_certificate_requests_total", cert},
		{"certbind_edge_certificate_errors_total", rejected},
		{"certbind_edge_certificate_backend_handshake_failures_total", rejected},
		// The CA that verifies the backend took part in those requests too.
		{"certbind_edge_certificate_requests_total", map[string]string{"certificate_id": caID, "name": "backendCa"}},
	} {
		b, _ := before.Value(tc.name, tc.labels)
		a, ok := after.Value(tc.name, tc.labels)
		if !ok || a-b != n {
			t.Errorf("%s %v went from %v to %v (present: %v), want %d more", tc.name, tc.labels, b, a, ok, n)
		}
	}

	// A backend whose certificate the route's CA did not sign.
	stranger := testpki.NewCA(t, "Stranger")
	untrusted := e2etest.MTLSBackend(t, e2etest.ServerCert(t, stranger), p.clientCA)
	deploy(t, s, untrusted.URL, nil, "myBackendCert")
	e2etest.Eventually(t, url, 502, "backend_certificate_not_trusted")
	m := e2etest.Scrape(t, metrics)
	if v, _ := m.Value("certbind_edge_certificate_backend_handshake_failures_total", with(cert, "reason", "backend_certificate_not_trusted")); v < 1 {
		t.Errorf("untrusted backend: handshake failures of myBackendCert = %v, want at least 1", v)
	}
	// No series names a certificate of another reason than a failure seen.
	if got := m.Series("certbind_edge_certificate_errors_total", cert); got != 2 {
		t.Errorf("myBackendCert has %d error series, want 2 (rejected, not trusted)", got)
	}
}
