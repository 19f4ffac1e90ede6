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

// TestEdgeRefusesABadCache: an edge never serves a cache it cannot trust
// and never crashes on one. A key file others can read, or a missing key
// beside an existing cache, stops it at start with one line saying what to
// do; a damaged cache file is refused with a log line, the edge starts
// empty, fills from the control plane and replaces the file with a sound
// one.
func TestEdgeRefusesABadCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	cmd := exec.Command(filepath.Join(c.bin, "certbind"), "api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")
	cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
	out, err := cmd.CombinedOutput()
	var key struct{ Key string }
	if err != nil || json.Unmarshal(out, &key) != nil || key.Key == "" {
		t.Fatalf("edge key: %v %s", err, out)
	}
	c.edgeKey = key.Key
	cacheDir, cacheKey := filepath.Join(c.dir, "edge-cache"), filepath.Join(c.dir, "edge-cache.key")
	cacheFile := filepath.Join(cacheDir, "edge-state.cache")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	garbage := []byte("certbind edge cache\n\x01 but nothing sealed after it")
	if err := os.WriteFile(cacheFile, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	cacheFlags := []string{"--cache-dir", cacheDir, "--cache-key-file", cacheKey}

	// startFails runs the edge and wants it to exit non-zero at once with
	// one line on stderr holding want.
	startFails := func(want string) {
		t.Helper()
		args := append([]string{"--listen", c.edgeAddr, "--admin-listen", c.edgeAdminAddr, "--certmgr-addr", c.certmgrAddr,
			"--deploytracker-addr", c.trackerAddr}, append(cacheFlags, c.tlsArgs()...)...)
		cmd := exec.Command(filepath.Join(c.bin, "edge"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_EDGE_KEY="+c.edgeKey)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			line := strings.TrimSpace(stderr.String())
			if err == nil || !strings.Contains(line, want) || strings.Count(line, "\n") != 0 || strings.Contains(line, "panic") {
				t.Fatalf("edge exited with %v and %q; want a failure saying %q in one line", err, line, want)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("the edge started; want it to refuse with %q", want)
		}
	}
	// No key file, but a cache: the key is not made up.
	startFails("restore the key file, or delete " + cacheFile)
	if _, err := os.Stat(cacheKey); err == nil {
		t.Fatal("the edge created a key over an existing cache")
	}
	if err := os.WriteFile(cacheKey, []byte(strings.Repeat("ab", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startFails("chmod 600 " + cacheKey)
	if err := os.Chmod(cacheKey, 0o600); err != nil {
		t.Fatal(err)
	}

	// With its key, the edge refuses the damaged file and starts empty.
	c.startWith("edge", cacheFlags...)
	deadline := time.Now().Add(20 * time.Second)
	var st cachedEdgeStatus
	for {
		st = readCachedEdgeStatus(t, c.edgeAdminAddr, c.edgeKey)
		if src := st.sources(); src["certificates"] == "live" && src["deployments"] == "live" && st.Cache.WrittenUnixMs != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not sync and write its cache: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Cache.RestoredWrittenUnixMs != "0" {
		t.Fatalf("the edge says it started from the damaged cache: %+v", st.Cache)
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "edge.log"))
	if !strings.Contains(string(log), "edge cache refused") || !strings.Contains(string(log), "does not open with the cache key") {
		t.Fatalf("the edge's log does not say it refused the cache:\n%s", log)
	}
	if b, err := os.ReadFile(cacheFile); err != nil || string(b) == string(garbage) {
		t.Fatalf("the damaged file was not replaced: %v", err)
	}
}
