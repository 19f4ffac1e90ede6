package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestMetricsAcrossProcesses scrapes the admin listener of certmgr, the
// deploytracker and the REST facade, each its own process with mutual TLS
// between them, after an upload and a deploy through the REST facade.
func TestMetricsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	ca := testpki.NewCA(t, "Demo CA")
	notAfter := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second).UTC()
	leaf := ca.Issue(t, testpki.Options{CommonName: "shop-gateway", NotAfter: notAfter})
	post := func(path string, body any) map[string]any {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", c.restURL+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+c.adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		var out map[string]any
		json.Unmarshal(raw, &out)
		return out
	}
	cert := post("/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "myBackendCert",
		"environmentTypes": []string{"production"}, "certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
	id := cert["id"].(string)
	post("/v1/accounts/acme/projects/shop/deployments", map[string]any{"environment": "production", "environmentType": "production",
		"config": map[string]any{"routes": []any{map[string]any{"path": "/api/*", "handler": map[string]any{"export": "UrlForwardHandler",
			"options": map[string]any{"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "myBackendCert"}}}}}})

	ok := func(service, method string) map[string]string {
		return map[string]string{"grpc_service": service, "grpc_method": method, "grpc_code": "OK"}
	}
	for _, tc := range []struct {
		process, addr, name string
		labels              map[string]string
		want                float64
	}{
		{"certmgr", c.certmgrAdmin, "certbind_certificate_not_after_timestamp_seconds", map[string]string{"id": id, "name": "myBackendCert", "account": "acme", "project": "shop"}, float64(notAfter.Unix())},
		{"certmgr", c.certmgrAdmin, "certbind_certificates", map[string]string{"state": "active"}, 1},
		{"certmgr", c.certmgrAdmin, "certbind_certmgr_changelog_head_revision", nil, 1},
		{"certmgr", c.certmgrAdmin, "grpc_server_handled_total", ok("certbind.certmgr.v1.CertificateService", "CreateCertificate"), 1},
		// A deploy resolves its certificates, then checks them again before
		// it commits (the safe-deletion protocol): two calls, counted by the
		// deploytracker as a client and by certmgr as a server.
		{"certmgr", c.certmgrAdmin, "grpc_server_handled_total", ok("certbind.certmgr.v1.InternalService", "ResolveCertificates"), 2},
		{"deploytracker", c.trackerAdmin, "grpc_server_handled_total", ok("certbind.deploytracker.v1.DeploymentService", "Deploy"), 1},
		{"deploytracker", c.trackerAdmin, "grpc_client_handled_total", ok("certbind.certmgr.v1.InternalService", "ResolveCertificates"), 2},
		{"deploytracker", c.trackerAdmin, "certbind_deploytracker_changelog_head_revision", nil, 1},
		// No webhook in this account: the webhook series are there at 0.
		{"certmgr", c.certmgrAdmin, "certbind_webhook_attempts_total", map[string]string{"event": "certificate.created", "result": "delivered"}, 0},
		{"certmgr", c.certmgrAdmin, "certbind_webhook_deliveries_pending", nil, 0},
		{"restapi", c.restAdmin, "grpc_client_handled_total", ok("certbind.certmgr.v1.CertificateService", "CreateCertificate"), 1},
		{"restapi", c.restAdmin, "grpc_client_handled_total", ok("certbind.deploytracker.v1.DeploymentService", "Deploy"), 1},
	} {
		m := e2etest.Scrape(t, "http://"+tc.addr+"/metrics")
		if got, found := m.Value(tc.name, tc.labels); !found || got != tc.want {
			t.Errorf("%s: %s %v = %v (found: %v), want %v", tc.process, tc.name, tc.labels, got, found, tc.want)
		}
	}
}
