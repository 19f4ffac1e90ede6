package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
)

// startSuite runs a real suite of the test's own (certmgr, the
// deploytracker and the REST facade on loopback, bbolt in a temp dir), for
// tests that need one no other test touches, and returns the environment
// that points the CLI at it.
func startSuite(t *testing.T) map[string]string {
	t.Helper()
	url, stop, err := runSuite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return map[string]string{EnvAPIURL: url, EnvAPIKey: adminKey}
}

func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, stderr, err := runCLI(t, env, args...)
	if err != nil {
		t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestEndToEnd walks the README's quick start through the CLI against the
// real suite.
func TestEndToEnd(t *testing.T) {
	env := startSuite(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Demo Client CA")
	leaf := ca.Issue(t, testpki.Options{CommonName: "shop-gateway"})
	cert := writeFile(t, dir, "client.pem", string(leaf.CertPEM))
	key := writeFile(t, dir, "client.key", string(leaf.KeyPEM))
	caFile := writeFile(t, dir, "ca.pem", string(ca.CertPEM))
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }

	out := mustRun(t, env, with("mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "myBackendCert",
		"--environment-type", "development", "--environment-type", "production", "--output", "json")...)
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --output json is not one JSON object: %v\n%s", err, out)
	}
	id, _ := created["id"].(string)
	if created["name"] != "myBackendCert" || created["subject"] != "CN=shop-gateway" || !strings.HasPrefix(id, "crt_") {
		t.Fatalf("created: %s", out)
	}
	mustRun(t, env, with("mtls-certificate", "create", "--ca", "--cert", caFile, "--name", "backendCa", "--environment-type", "production")...)

	out = mustRun(t, env, with("mtls-certificate", "list")...)
	if !strings.Contains(out, "myBackendCert") || !strings.Contains(out, "backendCa") || !strings.Contains(out, "NAME") {
		t.Fatalf("list table:\n%s", out)
	}
	out = mustRun(t, env, with("mtls-certificate", "list", "--output", "json", "--environment-type", "development")...)
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0]["id"] != id {
		t.Fatalf("list --output json is not the one-element array expected: %v\n%s", err, out)
	}
	if out = mustRun(t, env, with("mtls-certificate", "describe", "--name", "myBackendCert")...); !strings.Contains(out, id) || !strings.Contains(out, "days left") {
		t.Fatalf("describe:\n%s", out)
	}
	if out = mustRun(t, env, with("mtls-certificate", "disable", "--cert-id", id)...); !strings.Contains(out, "disabled") {
		t.Fatalf("disable:\n%s", out)
	}
	if out = mustRun(t, env, with("mtls-certificate", "enable", "--name", "myBackendCert")...); !strings.Contains(out, "active") {
		t.Fatalf("enable:\n%s", out)
	}
	if out = mustRun(t, env, with("mtls-certificate", "update", "--name", "myBackendCert", "--environment-type", "preview")...); !strings.Contains(out, "preview") {
		t.Fatalf("update:\n%s", out)
	}
	// Errors come from the server with what to fix, and exit non-zero.
	_, _, err := runCLI(t, env, with("mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "myBackendCert", "--environment-type", "production")...)
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("duplicate name: %v", err)
	}
	_, _, err = runCLI(t, env, with("mtls-certificate", "describe", "--name", "noSuchCert")...)
	if err == nil || !strings.Contains(err.Error(), "noSuchCert") {
		t.Fatalf("unknown name: %v", err)
	}

	// An account key works in its account and nowhere else.
	out = mustRun(t, env, "api-key", "create", "--account", "acme", "--output", "json")
	var k map[string]any
	if err := json.Unmarshal([]byte(out), &k); err != nil || !strings.HasPrefix(k["key"].(string), "cbk_") {
		t.Fatalf("api-key create: %v\n%s", err, out)
	}
	acme := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: k["key"].(string)}
	mustRun(t, acme, with("mtls-certificate", "list")...)
	_, _, err = runCLI(t, acme, "mtls-certificate", "list", "--account", "globex", "--project", "shop")
	if err == nil || !strings.Contains(err.Error(), "globex") {
		t.Fatalf("another account: %v", err)
	}

	if out = mustRun(t, env, with("mtls-certificate", "delete", "--name", "myBackendCert")...); !strings.Contains(out, "deleted") {
		t.Fatalf("delete:\n%s", out)
	}
	if out = mustRun(t, env, with("mtls-certificate", "list")...); strings.Contains(out, "myBackendCert") {
		t.Fatalf("deleted certificate still listed:\n%s", out)
	}
}
