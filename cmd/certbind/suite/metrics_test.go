package suite_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestServiceMetrics scrapes the metrics of certmgr, the deploytracker and
// the REST facade after real traffic: uploads, a disable, a deploy, a
// refused key and an edge following both streams.
func TestServiceMetrics(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s := start(t, admin)
	p := newPKI(t)
	backend := e2etest.MTLSBackend(t, p.backendCert, p.clientCA)
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second).UTC()
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	id := upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client", NotAfter: notAfter}))
	spare := upload(t, s, "spareCert", p.clientCA.Issue(t, testpki.Options{CommonName: "spare"}))
	if r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+spare+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if r := call(t, s, "not-a-key", "GET", "/v1/accounts/acme/projects/shop/mtls-certificates", nil); r.status != 401 {
		t.Fatalf("a call with a bad key: %d %s", r.status, r.raw)
	}
	deploy(t, s, backend.URL, nil, "myBackendCert")
	e2etest.Eventually(t, s.EdgeURL+"/acme/shop/production/api/x", 200, "CN=client")

	m := e2etest.Scrape(t, s.MetricsURL+"/metrics")
	type want struct {
		name    string
		labels  map[string]string
		value   float64
		atLeast bool
	}
	grpcServer := func(service, method, code string) map[string]string {
		return map[string]string{"grpc_service": service, "grpc_method": method, "grpc_code": code}
	}
	for _, w := range []want{
		// The expiry gauge is the certificate's notAfter.
		{"certbind_certificate_not_after_timestamp_seconds", map[string]string{"account": "acme", "project": "shop", "name": "myBackendCert", "id": id}, float64(notAfter.Unix()), false},
		{"certbind_certificates", map[string]string{"state": "active"}, 2, false},
		{"certbind_certificates", map[string]string{"state": "disabled"}, 1, false},
		{"certbind_certificates", map[string]string{"state": "deleting"}, 0, false},
		{"certbind_certificates", map[string]string{"state": "damaged"}, 0, false},
		// Three uploads and a disable: four changes, all published.
		{"certbind_certmgr_changelog_head_revision", nil, 4, false},
		{"certbind_certmgr_stream_changes_published_total", nil, 4, false},
		{"certbind_certmgr_store_write_duration_seconds", nil, 4, true},
		{"certbind_certmgr_stream_subscribers", nil, 1, false},
		// One deploy: its in-progress record, then the commit.
		{"certbind_deploytracker_changelog_head_revision", nil, 1, false},
		{"certbind_deploytracker_stream_changes_published_total", nil, 1, false},
		{"certbind_deploytracker_store_write_duration_seconds", nil, 2, true},
		{"certbind_deploytracker_stream_subscribers", nil, 1, false},
		// gRPC as served, refusals included, and as called.
		{"grpc_server_handled_total", grpcServer("certbind.certmgr.v1.CertificateService", "CreateCertificate", "OK"), 3, false},
		{"grpc_server_handled_total", grpcServer("certbind.certmgr.v1.CertificateService", "ListCertificates", "Unauthenticated"), 1, false},
		{"grpc_server_handled_total", grpcServer("certbind.deploytracker.v1.DeploymentService", "Deploy", "OK"), 1, false},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "CreateCertificate"}, 3, false},
		// The deploytracker's calls to certmgr, and the REST facade's.
		{"grpc_client_handled_total", grpcServer("certbind.certmgr.v1.InternalService", "ResolveCertificates", "OK"), 1, true},
		{"grpc_client_handled_total", grpcServer("certbind.certmgr.v1.CertificateService", "CreateCertificate", "OK"), 3, false},
	} {
		got, ok := m.Value(w.name, w.labels)
		switch {
		case !ok:
			t.Errorf("%s %v: no such series", w.name, w.labels)
		case w.atLeast && got < w.value:
			t.Errorf("%s %v = %v, want at least %v", w.name, w.labels, got, w.value)
		case !w.atLeast && got != w.value:
			t.Errorf("%s %v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	// Damaged certificates have no notAfter; the others have one each.
	if n := m.Series("certbind_certificate_not_after_timestamp_seconds", nil); n != 3 {
		t.Errorf("%d expiry series, want 3", n)
	}

	// Key material never reaches the page, and the metrics are only on
	// the admin listener, not on the REST facade's.
	resp, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), "-----BEGIN") || strings.Contains(string(page), "PRIVATE") {
		t.Error("the metrics page holds PEM")
	}
	resp, err = http.Get(s.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the REST facade serves /metrics on its public listener")
	}
}
