package main

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestMasterKeyRotationUnderEdgeLoad runs certmgr, the deploytracker, the
// REST facade and an edge (on an edge key) as separate processes, the
// master key outside certmgr's data dir. While the edge carries steady
// mTLS traffic to a backend, master-key rotations are started and certmgr
// is killed with SIGKILL at random points of them and restarted. No
// request may fail, the edge keeps the certificate's version (re-sealing
// is no change to it), every certificate still streams with its own key,
// and a rotation in place afterwards still reaches the edge.
func TestMasterKeyRotationUnderEdgeLoad(t *testing.T) {
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

	var key struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	c.edgeKey = key.Key
	c.start("edge")

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	l := clientCA.Issue(t, testpki.Options{CommonName: "client-1"})
	must(with("mtls-certificate", "create", "--cert", file("c1.pem", l.CertPEM), "--key", file("c1.key", l.KeyPEM), "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	gateway := file("gateway.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "myBackendCert", "caCertificate": "backendCa"}}}]}`))
	deployArgs := with("deploy", "--environment", "production", "--environment-type", "production", "--config", gateway)
	must(deployArgs...)
	url := "http://" + c.edgeAddr + "/acme/shop/production/api/hello"
	e2etest.Eventually(t, url, 200, "CN=client-1")

	// Enough certificates that a rotation takes a while.
	var want sync.Map
	if n := uploads(t, c.grpc(c.certmgrAddr), c.adminKey, "bulk", 800, &want); n != 800 {
		t.Fatalf("%d of 800 uploads acknowledged", n)
	}
	want.Store("myBackendCert", l.Key.Public())

	start := time.Now()
	must("admin", "rotate-master-key")
	full := time.Since(start)

	load := e2etest.StartLoad(url, 6)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	cutOff := 0
	for round := range 6 {
		req, _ := http.NewRequest(http.MethodPost, c.restURL+"/v1/admin/master-key:rotate", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+c.adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("round %d: starting a rotation: %d", round, resp.StatusCode)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full))))
		c.kill9("certmgr")
		if _, err := os.Stat(filepath.Join(c.dir, "master.key.next")); err == nil {
			cutOff++
		}
		c.start("certmgr")
	}
	must("admin", "rotate-master-key")
	load.Finish(t, "master-key rotations with certmgr killed")
	t.Logf("%d of 6 kills cut a rotation off", cutOff)

	// The edge holds the certificate at the version it had: re-sealing is
	// not a change to it.
	req, _ := http.NewRequest("GET", "http://"+c.edgeAdminAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+c.edgeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Certificates []struct {
			Name    string
			Version int
		}
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	version := 0
	for _, cert := range st.Certificates {
		if cert.Name == "myBackendCert" {
			version = cert.Version
		}
	}
	if version != 1 {
		t.Fatalf("the edge holds myBackendCert at version %d after master-key rotations, want 1:\n%s", version, body)
	}

	wantAllKeys(t, 0, streamedKeys(t, c.grpc(c.certmgrAddr), c.adminKey), &want)

	l2 := clientCA.Issue(t, testpki.Options{CommonName: "client-2"})
	must(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", file("c2.pem", l2.CertPEM), "--key", file("c2.key", l2.KeyPEM))...)
	e2etest.Eventually(t, url, 200, "CN=client-2")

	entries, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, "master.key.") && !strings.HasPrefix(name, "master.key.retired-") {
			t.Errorf("%s left beside the master key after the rotations finished", name)
		}
	}
}
