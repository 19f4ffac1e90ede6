package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestEdgeWorkflowAcrossProcesses runs DESIGN's whole workflow with every
// part a separate process (mutual TLS between the services, the edge on an
// edge key), through the certbind binary, with continuous load on the edge:
// create → deploy with $env → the backend sees the client certificate →
// five-step rotation → rotate in place → certmgr killed and restarted while
// the edge serves, then a change made after the restart reaches the edge →
// disable → delete refused → redeploy without it → delete. No request of the
// load may fail.
func TestEdgeWorkflowAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	dir := t.TempDir()
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
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }

	// The edge runs on its own edge key.
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	c.edgeKey = key.Key
	c.start("edge")

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	leaf := func(n string) (string, string) {
		l := clientCA.Issue(t, testpki.Options{CommonName: "client-" + n})
		return file("client"+n+".pem", l.CertPEM), file("client"+n+".key", l.KeyPEM)
	}
	gateway := file("gateway.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "$env(BACKEND_MTLS_CERT)", "caCertificate": "backendCa"}}}]}`))
	deployArgs := with("deploy", "--environment", "production", "--environment-type", "production", "--config", gateway)

	cert1, key1 := leaf("1")
	must(with("mtls-certificate", "create", "--cert", cert1, "--key", key1, "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	out := must(append(deployArgs, "--var", "BACKEND_MTLS_CERT=myBackendCert", "--output", "json")...)
	var dep struct{ URL string }
	if err := json.Unmarshal([]byte(out), &dep); err != nil || dep.URL != "http://"+c.edgeAddr+"/acme/shop/production" {
		t.Fatalf("deploy url: %v %s", err, out)
	}
	url := dep.URL + "/api/hello"
	e2etest.Eventually(t, url, 200, "CN=client-1")

	// Five-step rotation under load.
	load := e2etest.StartLoad(url, 6)
	cert2, key2 := leaf("2")
	must(with("mtls-certificate", "create", "--cert", cert2, "--key", key2, "--name", "myBackendCert2", "--environment-type", "production")...)
	must(with("mtls-certificate", "disable", "--name", "myBackendCert")...)
	must(append(deployArgs, "--var", "BACKEND_MTLS_CERT=myBackendCert2")...)
	e2etest.Eventually(t, url, 200, "CN=client-2")
	must(with("mtls-certificate", "delete", "--name", "myBackendCert")...)
	if body := load.Finish(t, "five-step rotation"); !strings.Contains(body, "CN=client-2") {
		t.Fatalf("after the rotation the backend saw %s", body)
	}

	// Rotation in place under load.
	load = e2etest.StartLoad(url, 6)
	cert3, key3 := leaf("3")
	if out := must(with("mtls-certificate", "rotate", "--name", "myBackendCert2", "--cert", cert3, "--key", key3)...); !strings.Contains(out, "Version:               2") {
		t.Fatalf("rotate:\n%s", out)
	}
	e2etest.Eventually(t, url, 200, "CN=client-3")
	load.Finish(t, "rotation in place")

	// certmgr dies while the edge serves: the edge goes on from memory,
	// and catches up with what changes after certmgr is back.
	load = e2etest.StartLoad(url, 6)
	c.kill9("certmgr")
	time.Sleep(500 * time.Millisecond)
	c.start("certmgr")
	cert4, key4 := leaf("4")
	must(with("mtls-certificate", "rotate", "--name", "myBackendCert2", "--cert", cert4, "--key", key4)...)
	e2etest.Eventually(t, url, 200, "CN=client-4")
	load.Finish(t, "certmgr restart")

	// The edge reports what it uses.
	req, _ := http.NewRequest("GET", "http://"+c.edgeAdminAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+c.edgeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Certificates []struct {
			Name    string
			Version int
		}
	}
	if err := json.Unmarshal(status, &st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range st.Certificates {
		found = found || (c.Name == "myBackendCert2" && c.Version == 3)
	}
	if !found {
		t.Fatalf("status does not show myBackendCert2 at version 3:\n%s", status)
	}

	// Deletion path: disable, delete refused, redeploy without, delete.
	must(with("mtls-certificate", "disable", "--name", "myBackendCert2")...)
	if out, err := run(with("mtls-certificate", "delete", "--name", "myBackendCert2")...); err == nil || !strings.Contains(out, "production") {
		t.Fatalf("delete while deployed: %v\n%s", err, out)
	}
	e2etest.Eventually(t, url, 200, "CN=client-4") // disabled, still served until the redeploy
	without := file("no-mtls.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "caCertificate": "backendCa"}}}]}`))
	must(with("deploy", "--environment", "production", "--environment-type", "production", "--config", without)...)
	must(with("mtls-certificate", "delete", "--name", "myBackendCert2")...)
	// Without a certificate this backend refuses the edge, which says so.
	e2etest.Eventually(t, url, 502, "backend_rejected_client_certificate")
}
