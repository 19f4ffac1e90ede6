package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// cachedEdgeStatus is the part of an edge's GET /v1/status the cache tests read
// (protojson writes 64-bit integers as strings).
type cachedEdgeStatus struct {
	Streams []struct {
		Name, Source, Revision, Resyncs, StaleSeconds string
		Connected                                     bool
	}
	Deployments []struct{ UrlPath string }
	Cache       struct {
		Enabled                              bool
		WrittenUnixMs, RestoredWrittenUnixMs string
		Error                                string
	}
}

func (s cachedEdgeStatus) sources() map[string]string {
	out := map[string]string{}
	for _, st := range s.Streams {
		out[st.Name] = st.Source
	}
	return out
}

func readCachedEdgeStatus(t *testing.T, adminAddr, key string) cachedEdgeStatus {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+adminAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st cachedEdgeStatus
	if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil {
		t.Fatalf("status: %d %s", resp.StatusCode, b)
	}
	return st
}

func fetchEdge(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricLine(t *testing.T, adminAddr, prefix string) string {
	t.Helper()
	_, body := fetchEdge(t, "http://"+adminAddr+"/metrics")
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no metric %s in:\n%s", prefix, body)
	return ""
}

// TestEdgeServesItsCacheWithEveryReplicaDown: an edge with --cache-dir
// serves a deployment through a backend that requires its client
// certificate; the whole control plane dies (SIGKILL) and the edge goes on
// from memory; then the edge dies too and starts again alone, with no
// replica to answer: it serves the deployment with its certificate from
// its sealed cache at once, and says so in its status and metrics. When
// the control plane is back, a change made then reaches the edge, which
// resumed its streams from the cached revisions rather than resyncing.
func TestEdgeServesItsCacheWithEveryReplicaDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(c.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
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
	if err := json.Unmarshal([]byte(run("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	c.edgeKey = key.Key
	cacheDir, cacheKey := filepath.Join(c.dir, "edge-cache"), filepath.Join(c.dir, "edge-cache.key")
	cacheFlags := []string{"--cache-dir", cacheDir, "--cache-key-file", cacheKey}
	c.startWith("edge", cacheFlags...)

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	leaf := func(n string) (string, string) {
		l := clientCA.Issue(t, testpki.Options{CommonName: "client-" + n})
		return file("client"+n+".pem", l.CertPEM), file("client"+n+".key", l.KeyPEM)
	}
	gateway := file("gateway.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "myBackendCert", "caCertificate": "backendCa"}}}]}`))
	cert1, key1 := leaf("1")
	run(with("mtls-certificate", "create", "--cert", cert1, "--key", key1, "--name", "myBackendCert", "--environment-type", "production")...)
	run(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	run(with("deploy", "--environment", "production", "--environment-type", "production", "--config", gateway)...)
	url := "http://" + c.edgeAddr + "/acme/shop/production/api/hello"
	e2etest.Eventually(t, url, 200, "CN=client-1")

	// The edge writes its cache within a second of a change; a write
	// stamped after the edge served the deployment holds it.
	served := time.Now().UnixMilli()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := readCachedEdgeStatus(t, c.edgeAdminAddr, c.edgeKey)
		if ms, _ := strconv.ParseInt(st.Cache.WrittenUnixMs, 10, 64); ms > served {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not write its cache: %+v", st.Cache)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(cacheDir, "edge-state.cache")); err != nil || strings.Contains(string(b), "client-1") || strings.Contains(string(b), "acme") {
		t.Fatalf("the cache file is missing or not sealed (err %v)", err)
	}
	if info, err := os.Stat(cacheKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("cache key file: %v %v", info, err)
	}

	// Every replica dies: the edge serves on from memory.
	for _, name := range []string{"restapi", "deploytracker", "certmgr"} {
		c.kill9(name)
	}
	for range 20 {
		if code, body := fetchEdge(t, url); code != 200 || !strings.Contains(body, "CN=client-1") {
			t.Fatalf("with the control plane down the edge answered %d %s", code, body)
		}
	}
	if st := readCachedEdgeStatus(t, c.edgeAdminAddr, c.edgeKey); st.sources()["certificates"] != "live" || st.sources()["deployments"] != "live" {
		t.Fatalf("status of the edge that never restarted: %+v", st.Streams)
	}

	// The edge dies too, and starts again alone.
	c.kill9("edge")
	c.startWith("edge", cacheFlags...)
	if code, body := fetchEdge(t, url); code != 200 || !strings.Contains(body, "CN=client-1") {
		t.Fatalf("the restarted edge, with every replica down, answered %d %s (want 200 through the backend with the cached certificate)", code, body)
	}
	st := readCachedEdgeStatus(t, c.edgeAdminAddr, c.edgeKey)
	if src := st.sources(); src["certificates"] != "cache" || src["deployments"] != "cache" {
		t.Fatalf("status does not say the state is from the cache: %+v", st.Streams)
	}
	for _, s := range st.Streams {
		if s.Connected || s.StaleSeconds == "" {
			t.Fatalf("stream %+v: want disconnected with its staleness", s)
		}
	}
	if !st.Cache.Enabled || st.Cache.RestoredWrittenUnixMs == "" || st.Cache.RestoredWrittenUnixMs == "0" || st.Cache.Error != "" {
		t.Fatalf("cache status: %+v", st.Cache)
	}
	if len(st.Deployments) != 1 || st.Deployments[0].UrlPath != "/acme/shop/production" {
		t.Fatalf("deployments in the status: %+v", st.Deployments)
	}
	if m := metricLine(t, c.edgeAdminAddr, `certbind_edge_stream_from_cache{stream="deployments"}`); !strings.HasSuffix(m, " 1") {
		t.Fatalf("metric: %s", m)
	}

	// The control plane comes back; a rotation made then reaches the edge.
	c.start("certmgr")
	c.start("deploytracker")
	c.start("restapi")
	cert2, key2 := leaf("2")
	run(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", cert2, "--key", key2)...)
	e2etest.Eventually(t, url, 200, "CN=client-2")
	deadline = time.Now().Add(30 * time.Second)
	for {
		st = readCachedEdgeStatus(t, c.edgeAdminAddr, c.edgeKey)
		if src := st.sources(); src["certificates"] == "live" && src["deployments"] == "live" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the streams never went live again: %+v", st.Streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range st.Streams {
		if s.Resyncs != "0" {
			t.Fatalf("stream %+v resynced: the edge should have resumed from the cached revision", s)
		}
	}
	if m := metricLine(t, c.edgeAdminAddr, `certbind_edge_stream_from_cache{stream="deployments"}`); !strings.HasSuffix(m, " 0") {
		t.Fatalf("metric: %s", m)
	}
}
