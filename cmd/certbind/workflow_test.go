package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
)

// TestWorkflowAcrossProcesses runs DESIGN's workflow (upload, deploy with
// $env, delete refused naming the deployment, disable, redeploy without it,
// delete) through the certbind binary against certmgr, the deploytracker and
// the REST facade running as separate processes with mutual TLS between them.
func TestWorkflowAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Demo CA")
	leaf := ca.Issue(t, testpki.Options{CommonName: "shop-gateway"})
	file := func(name string, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, caFile := file("client.pem", string(leaf.CertPEM)), file("client.key", string(leaf.KeyPEM)), file("ca.pem", string(ca.CertPEM))
	withCert := file("gateway.json", `{"routes": [{"path": "/api/*", "methods": ["GET"], "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "$env(BACKEND_MTLS_CERT)", "caCertificate": "backendCa"}}}]}`)
	without := file("gateway-no-mtls.json", `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "https://127.0.0.1:9443", "caCertificate": "backendCa"}}}]}`)
	envFile := file("prod.env", "# production\nBACKEND_MTLS_CERT=myBackendCert\n")

	run := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(c.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }

	must(with("mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "myBackendCert", "--environment-type", "development", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", caFile, "--name", "backendCa", "--environment-type", "production")...)
	deployArgs := with("deploy", "--environment", "production", "--environment-type", "production")
	out := must(append(deployArgs, "--config", withCert, "--env-file", envFile, "--output", "json")...)
	if !strings.Contains(out, `"url"`) || !strings.Contains(out, "myBackendCert") || !strings.Contains(out, `"id": "dep_`) {
		t.Fatalf("deploy output:\n%s", out)
	}
	out, err := run(with("mtls-certificate", "delete", "--name", "myBackendCert")...)
	if err == nil || !strings.Contains(out, "dep_") || !strings.Contains(out, `"production"`) {
		t.Fatalf("delete of a referenced certificate: %v\n%s", err, out)
	}
	if out = must(with("mtls-certificate", "describe", "--name", "myBackendCert")...); !strings.Contains(out, "production") || !strings.Contains(out, "dep_") {
		t.Fatalf("describe does not show the deployment:\n%s", out)
	}
	must(with("mtls-certificate", "disable", "--name", "myBackendCert")...)
	if out, err = run(append(deployArgs, "--config", withCert, "--var", "BACKEND_MTLS_CERT=myBackendCert")...); err == nil || !strings.Contains(out, "disabled") {
		t.Fatalf("deploy with a disabled certificate: %v\n%s", err, out)
	}
	must(append(deployArgs, "--config", without)...)
	must(with("mtls-certificate", "delete", "--name", "myBackendCert")...)
	if out = must(with("deployment", "list")...); !strings.Contains(out, "production") {
		t.Fatalf("deployment list:\n%s", out)
	}
	must(with("deployment", "delete", "--environment", "production")...)
	must(with("mtls-certificate", "delete", "--name", "backendCa")...)
	if out = must(with("mtls-certificate", "list")...); strings.Contains(out, "backendCa") {
		t.Fatalf("list after deletes:\n%s", out)
	}
	// The audit trail holds every step, certmgr's and the deploytracker's
	// (which certmgr reads over mutual TLS with the service key) merged.
	out = must("audit", "list", "--account", "acme", "--output", "json")
	var entries []struct{ Action, Result string }
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	var got []string
	for _, e := range slices.Backward(entries) {
		got = append(got, e.Action+" "+e.Result)
	}
	want := []string{"certificate.create ok", "certificate.create ok", "deployment.deploy ok", "certificate.delete refused",
		"certificate.disable ok", "deployment.deploy refused", "deployment.deploy ok", "certificate.delete ok",
		"deployment.delete ok", "certificate.delete ok"}
	if !slices.Equal(got, want) {
		t.Errorf("audit trail\n%q\nwant\n%q", got, want)
	}
}
