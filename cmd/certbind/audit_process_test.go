package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
)

// TestAuditTrailSurvivesKill9 kills `certbind dev` with SIGKILL right after
// the CLI hears that its last write was done, and checks that the restarted
// suite lists every acknowledged write's entry, refused ones included; then,
// restarted with a smaller retention, that the next write drops the oldest.
func TestAuditTrailSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dev, url := startDev(t, bin, data)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	ca := testpki.NewCA(t, "Audit Root")
	write := func(name string) (string, error) {
		leaf := ca.Issue(t, testpki.Options{CommonName: "client"})
		certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
		os.WriteFile(certFile, leaf.CertPEM, 0o600)
		os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
		return runBin(t, bin, url, key, "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
			"--name", name, "--account", "acme", "--project", "shop", "--environment-type", "production")
	}
	list := func() []string {
		t.Helper()
		out, err := runBin(t, bin, url, key, "audit", "list", "--account", "acme", "--output", "json")
		if err != nil {
			t.Fatalf("audit list: %v\n%s", err, out)
		}
		var entries []struct {
			Action, Result string
			Resource       struct{ Name string }
		}
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			t.Fatalf("audit list: %v\n%s", err, out)
		}
		var got []string
		for _, e := range slices.Backward(entries) {
			got = append(got, e.Action+" "+e.Result+" "+e.Resource.Name)
		}
		return got
	}

	for _, name := range []string{"certA", "certB"} {
		if out, err := write(name); err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
	}
	if out, err := write("certA"); err == nil {
		t.Fatalf("a second certA was accepted:\n%s", out)
	}
	config := filepath.Join(dir, "gateway.json")
	os.WriteFile(config, []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
  "options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "certA"}}}]}`), 0o600)
	if out, err := runBin(t, bin, url, key, "deploy", "--account", "acme", "--project", "shop", "--environment", "production",
		"--environment-type", "production", "--config", config); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if out, err := runBin(t, bin, url, key, "mtls-certificate", "delete", "--name", "certA", "--account", "acme", "--project", "shop"); err == nil {
		t.Fatalf("the delete of a referenced certificate succeeded:\n%s", out)
	}
	if out, err := runBin(t, bin, url, key, "mtls-certificate", "disable", "--name", "certB", "--account", "acme", "--project", "shop"); err != nil {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if err := dev.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dev.Wait()

	dev, url = startDev(t, bin, data)
	want := []string{"certificate.create ok certA", "certificate.create ok certB", "certificate.create refused certA",
		"deployment.deploy ok production", "certificate.delete refused certA", "certificate.disable ok certB"}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("after kill -9 the trail is\n%q\nwant\n%q", got, want)
	}
	dev.Process.Signal(os.Interrupt)
	dev.Wait()

	_, url = startDev(t, bin, data, "--audit-retention", "3")
	if out, err := write("certC"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	// Each service keeps its own part: certmgr's three newest, and the
	// deploytracker's one deploy.
	want = []string{"deployment.deploy ok production", "certificate.delete refused certA", "certificate.disable ok certB", "certificate.create ok certC"}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("with --audit-retention 3 the trail is\n%q\nwant\n%q", got, want)
	}
}
