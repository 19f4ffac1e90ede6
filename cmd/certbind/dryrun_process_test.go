package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
)

// TestDryRunThroughBinary drives `certbind deploy --dry-run` and the
// reworded errors through the real binary against a real `certbind dev`:
// a dry run prints the plan and records nothing, is refused as a deploy
// would be, and --api-url at the edge is called the edge.
func TestDryRunThroughBinary(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	dev := runDevIn(t, bin, dir, filepath.Join(dir, "data"))
	banner := dev.banner.String()
	env := pastedEnv(t, banner)
	edge := regexp.MustCompile(`(?m)^  edge       (http://\S+)`).FindStringSubmatch(banner)
	if edge == nil {
		t.Fatalf("no edge address in the banner:\n%s", banner)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
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
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := testpki.NewCA(t, "Demo CA").Issue(t, testpki.Options{CommonName: "gw"})
	scope := []string{"--account", "acme", "--project", "shop"}
	must(append([]string{"mtls-certificate", "create", "--cert", write("c.pem", string(leaf.CertPEM)), "--key", write("c.key", string(leaf.KeyPEM)),
		"--name", "myBackendCert", "--environment-type", "production"}, scope...)...)
	config := write("gateway.json", `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "$env(BACKEND_MTLS_CERT)"}}}]}`)
	deploy := func(envType string, extra ...string) []string {
		return append(append([]string{"deploy", "--environment", envType, "--environment-type", envType, "--config", config,
			"--var", "BACKEND_MTLS_CERT=myBackendCert"}, scope...), extra...)
	}
	listJSON := func() []map[string]any {
		t.Helper()
		var list []map[string]any
		out := must(append([]string{"deployment", "list", "--output", "json"}, scope...)...)
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("deployment list: %v\n%s", err, out)
		}
		return list
	}

	out := must(deploy("production", "--dry-run")...)
	if !strings.Contains(out, "nothing was deployed or recorded") || !strings.Contains(out, "myBackendCert") {
		t.Errorf("dry run:\n%s", out)
	}
	if list := listJSON(); len(list) != 0 {
		t.Fatalf("a dry run recorded %v", list)
	}
	out, err := run(deploy("development", "--dry-run")...)
	if err == nil || !strings.HasPrefix(out, "error: ") ||
		!strings.Contains(out, "--name myBackendCert --environment-type development --environment-type production") {
		t.Errorf("dry run to a type not allowed: %v\n%s", err, out)
	}
	must(deploy("production")...)
	before := listJSON()
	if out = must(deploy("production", "--dry-run")...); !strings.Contains(out, "generation 2 would replace generation 1") {
		t.Errorf("dry run over a deployment:\n%s", out)
	}
	if after := listJSON(); len(after) != 1 || after[0]["generation"] != before[0]["generation"] || after[0]["revision"] != before[0]["revision"] {
		t.Errorf("after a dry run: %v, before: %v", after, before)
	}
	must(append([]string{"mtls-certificate", "disable", "--name", "myBackendCert"}, scope...)...)
	if out, err = run(deploy("production", "--dry-run")...); err == nil || !strings.Contains(out, `certificate "myBackendCert" is disabled`) {
		t.Errorf("dry run with a disabled certificate: %v\n%s", err, out)
	}

	out, err = run(append([]string{"--api-url", edge[1], "mtls-certificate", "list"}, scope...)...)
	if err == nil || !strings.Contains(out, "--api-url "+edge[1]+" is the certbind edge") {
		t.Errorf("--api-url at the edge: %v\n%s", err, out)
	}
}
