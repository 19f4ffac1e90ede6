package suite_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
)

func gatewayConfig(mtls, ca string) map[string]any {
	opts := map[string]any{"baseUrl": "https://127.0.0.1:9443"}
	if mtls != "" {
		opts["mtlsCertificate"] = mtls
	}
	if ca != "" {
		opts["caCertificate"] = ca
	}
	return map[string]any{"routes": []any{
		map[string]any{"path": "/api/*", "methods": []string{"GET", "POST"},
			"handler": map[string]any{"export": "UrlForwardHandler", "module": "$import(@zuplo/runtime)", "options": opts}},
	}}
}

// TestDeployWorkflow walks DESIGN's workflow steps 2, 4 and 5 over REST.
func TestDeployWorkflow(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	ca := testpki.NewCA(t, "Root")
	leaf := ca.Issue(t, testpki.Options{CommonName: "gw"})
	certs := "/v1/accounts/acme/projects/shop/mtls-certificates"
	deps := "/v1/accounts/acme/projects/shop/deployments"
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", certs, map[string]any{"name": "myBackendCert", "environmentTypes": []string{"development", "production"},
		"certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
	certID, _ := r.body["id"].(string)
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", certs, map[string]any{"name": "backendCa", "environmentTypes": []string{"production"}, "ca": true, "certificatePem": string(ca.CertPEM)})
	caID, _ := r.body["id"].(string)
	if certID == "" || caID == "" {
		t.Fatalf("uploads failed: %s", r.raw)
	}

	deployBody := func(mtls string, vars map[string]string) map[string]any {
		return map[string]any{"environment": "production", "environmentType": "production", "config": gatewayConfig(mtls, "backendCa"), "variables": vars}
	}
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", deps, deployBody("$env(BACKEND_MTLS_CERT)", map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"}))
	if r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}
	depID, _ := r.body["id"].(string)
	if r.body["url"] != s.EdgeURL+"/acme/shop/production" || !strings.Contains(r.raw, certID) || !strings.Contains(r.raw, caID) || r.body["generation"] != float64(1) {
		t.Fatalf("deploy response: %s", r.raw)
	}

	// Refused deploys record nothing and say which route and option.
	for _, tc := range []struct {
		body     map[string]any
		fragment string
	}{
		{deployBody("$env(BACKEND_MTLS_CERT)", nil), "BACKEND_MTLS_CERT"},
		{deployBody("noSuchCert", nil), `no certificate named \"noSuchCert\"`},
		{deployBody("backendCa", nil), "is a CA certificate"},
		{map[string]any{"environment": "preview", "environmentType": "preview", "config": gatewayConfig("myBackendCert", "")}, "not allowed in preview"},
		{map[string]any{"environment": "Prod Env", "environmentType": "production", "config": gatewayConfig("myBackendCert", "")}, "environment"},
		{map[string]any{"environment": "production", "environmentType": "production"}, "no gateway config"},
	} {
		r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", deps, tc.body)
		if r.status != 400 || !strings.Contains(r.raw, tc.fragment) {
			t.Errorf("bad deploy: %d %s; want 400 with %q", r.status, r.raw, tc.fragment)
		}
	}
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "GET", deps, nil)
	if n := strings.Count(r.raw, `"generation"`); n != 1 || !strings.Contains(r.raw, `"generation":1`) {
		t.Fatalf("refused deploys left a trace: %s", r.raw)
	}

	// Step 4: delete is refused while referenced, naming the deployment.
	for _, id := range []string{certID, caID} {
		r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", certs+"/"+id, nil)
		if r.status != 409 || !strings.Contains(r.raw, depID) || !strings.Contains(r.raw, `environment \"production\"`) {
			t.Fatalf("delete of a referenced certificate: %d %s", r.status, r.raw)
		}
	}
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "GET", certs+"/"+certID+"/references", nil)
	if r.status != 200 || !strings.Contains(r.raw, depID) {
		t.Fatalf("references: %d %s", r.status, r.raw)
	}
	// Taking away the type the deployment uses is refused the same way.
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "PATCH", certs+"/"+certID, map[string]any{"environmentTypes": []string{"development"}})
	if r.status != 409 || !strings.Contains(r.raw, depID) {
		t.Fatalf("removing a used environment type: %d %s", r.status, r.raw)
	}
	// The refused delete left the certificate as it was.
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "GET", certs+"/"+certID, nil)
	if r.body["state"] != "active" {
		t.Fatalf("after a refused delete: %s", r.raw)
	}

	// Step 5: disable, redeploy without it, delete.
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", certs+"/"+certID+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", deps, deployBody("myBackendCert", nil))
	if r.status != 400 || !strings.Contains(r.raw, "disabled") || !strings.Contains(r.raw, `route 1 (\"/api/*\") option \"mtlsCertificate\"`) {
		t.Fatalf("deploy with a disabled certificate: %d %s", r.status, r.raw)
	}
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", deps, deployBody("", nil))
	if r.status != 200 || r.body["id"] != depID || r.body["generation"] != float64(2) {
		t.Fatalf("redeploy without the certificate: %d %s", r.status, r.raw)
	}
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", certs+"/"+certID, nil); r.status != 200 {
		t.Fatalf("delete after redeploy: %d %s", r.status, r.raw)
	}
	// The CA is still used; deleting the deployment frees it.
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", certs+"/"+caID, nil); r.status != 409 {
		t.Fatalf("CA delete while used: %d %s", r.status, r.raw)
	}
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", deps+"/"+depID, nil); r.status != 200 {
		t.Fatalf("delete deployment: %d %s", r.status, r.raw)
	}
	if r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "DELETE", certs+"/"+caID, nil); r.status != 200 {
		t.Fatalf("CA delete after the deployment went: %d %s", r.status, r.raw)
	}
}

func TestDeploymentIsolation(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/globex/api-keys", map[string]any{})
	globex, _ := r.body["key"].(string)
	r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/deployments",
		map[string]any{"environment": "dev", "environmentType": "development", "config": gatewayConfig("", "")})
	if r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	for _, path := range []string{"/v1/accounts/acme/projects/shop/deployments", fmt.Sprintf("/v1/accounts/acme/projects/shop/deployments/%s", id)} {
		if r := call(t, s, globex, "GET", path, nil); r.status != 403 {
			t.Errorf("GET %s with another account's key: %d %s", path, r.status, r.raw)
		}
	}
	if r := call(t, s, "", "GET", "/v1/accounts/acme/projects/shop/deployments", nil); r.status != 401 {
		t.Errorf("no key: %d", r.status)
	}
}
