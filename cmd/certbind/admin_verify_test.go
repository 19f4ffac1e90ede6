package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/testpki"
)

// devURLs runs `certbind dev` on dataDir and returns the process and the
// addresses its banner prints, by label ("REST API", "edge", "edge admin").
func devURLs(t *testing.T, bin, dataDir string) (*exec.Cmd, map[string]string) {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := regexp.MustCompile(`^  (REST API|edge admin|edge)\s+(http://\S+)`)
	done := make(chan map[string]string, 1)
	go func() {
		urls := map[string]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				urls[m[1]] = m[2]
				if len(urls) == 3 {
					done <- urls
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case urls := <-done:
		return cmd, urls
	case <-time.After(30 * time.Second):
		t.Fatal("certbind dev did not print its addresses")
	}
	return nil, nil
}

// TestDevAdminVerify runs `certbind admin verify` against the real `certbind
// dev`: a sound suite is ok (exit 0); an account key is refused; after one
// certificate record is damaged in the stopped suite's bbolt file, verify
// names it and the deployment that uses it and exits 1, describe says it is
// damaged, the edge answers 502 naming it on the route that uses it while
// another route keeps its certificate, and the edge's status and metrics
// count it.
func TestDevAdminVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dev, urls := devURLs(t, bin, data)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	run := func(k string, args ...string) (string, error) { return runBin(t, bin, urls["REST API"], k, args...) }
	must := func(args ...string) string {
		t.Helper()
		out, err := run(key, args...)
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	scope := []string{"--account", "acme", "--project", "shop"}
	ca := testpki.NewCA(t, "Verify Root")
	for _, name := range []string{"goodCert", "brokenCert"} {
		leaf := ca.Issue(t, testpki.Options{CommonName: name})
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		os.WriteFile(certFile, leaf.CertPEM, 0o600)
		os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
		must(append([]string{"mtls-certificate", "create", "--cert", certFile, "--key", keyFile, "--name", name, "--environment-type", "production"}, scope...)...)
	}
	config := filepath.Join(dir, "gateway.json")
	// The backend port is closed: a route with a usable certificate
	// answers backend_unreachable, one without answers certificate_unavailable.
	os.WriteFile(config, []byte(`{"routes": [
		{"path": "/good/*", "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:1", "mtlsCertificate": "goodCert"}}},
		{"path": "/broken/*", "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:1", "mtlsCertificate": "brokenCert"}}}]}`), 0o600)
	var dep struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(must(append([]string{"deploy", "--environment", "production", "--environment-type", "production", "--config", config, "--output", "json"}, scope...)...)), &dep); err != nil {
		t.Fatal(err)
	}
	var broken struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(must(append([]string{"mtls-certificate", "describe", "--name", "brokenCert", "--output", "json"}, scope...)...)), &broken); err != nil {
		t.Fatal(err)
	}

	out := must("admin", "verify")
	if !strings.Contains(out, "No problems found.") || !strings.Contains(out, "2 certificates") || !strings.Contains(out, "1 deployments (2 certificate references)") {
		t.Fatalf("verify of a sound suite:\n%s", out)
	}
	var acct struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--output", "json")), &acct); err != nil {
		t.Fatal(err)
	}
	if out, err := run(acct.Key, "admin", "verify"); err == nil || !strings.Contains(out, "admin key") {
		t.Fatalf("verify with an account key: %v\n%s", err, out)
	}

	if err := dev.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	dev.Wait()
	db, err := bolt.Open(filepath.Join(data, "certmgr", "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("certificates"))
		k := []byte("acme\x00shop\x00" + broken.ID)
		v := b.Get(k)
		return b.Put(k, append([]byte(nil), v[:len(v)/2]...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, urls = devURLs(t, bin, data)

	out, err = run(key, "admin", "verify")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("verify of a damaged suite ended with %v, want exit 1:\n%s", err, out)
	}
	t.Logf("verify of the damaged suite:\n%s", out)
	for _, want := range []string{"undecodable_record", "brokenCert", "certificate_damaged", "2 error(s)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, out)
		}
	}
	out, _ = run(key, "admin", "verify", "--output", "json")
	var report struct {
		OK           bool `json:"ok"`
		Certificates struct {
			Certificates int // a JSON number, for jq
			Findings     []struct{ Check, CertificateID string }
		} `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &report); err != nil || report.OK || report.Certificates.Certificates != 2 || len(report.Certificates.Findings) != 1 || report.Certificates.Findings[0].CertificateID != broken.ID {
		t.Fatalf("verify --output json (%v):\n%s", err, out)
	}
	if out := must(append([]string{"mtls-certificate", "describe", "--name", "brokenCert"}, scope...)...); !regexp.MustCompile(`Damaged:\s+its stored record does not decode`).MatchString(out) {
		t.Fatalf("describe does not say it is damaged:\n%s", out)
	}
	if out := must(append([]string{"mtls-certificate", "list"}, scope...)...); !strings.Contains(out, "damaged") {
		t.Fatalf("list does not flag it:\n%s", out)
	}
	// Its delete is refused while the deployment uses it.
	if out, err := run(key, append([]string{"mtls-certificate", "delete", "--name", "brokenCert"}, scope...)...); err == nil ||
		!strings.Contains(out, `cannot delete certificate "brokenCert"`) || !strings.Contains(out, dep.ID) {
		t.Fatalf("delete of the damaged certificate in use: %v\n%s", err, out)
	}
	// A deploy that names it is refused, saying why.
	if out, err := run(key, append([]string{"deploy", "--environment", "staging", "--environment-type", "production", "--config", config}, scope...)...); err == nil ||
		!strings.Contains(out, `certificate "brokenCert" is damaged`) {
		t.Fatalf("deploy naming the damaged certificate: %v\n%s", err, out)
	}

	// The edge: 502 naming the damaged certificate, the other route's
	// certificate still in use.
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The edge listens on a new port after the restart.
	base := urls["edge"] + "/acme/shop/production"
	var code int
	var body string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = get(base + "/broken/x"); code == http.StatusBadGateway && strings.Contains(body, "damaged") {
			break
		}
	}
	if code != http.StatusBadGateway || !strings.Contains(body, `"certificate":"brokenCert"`) || !strings.Contains(body, `"certificateId":"`+broken.ID+`"`) || !strings.Contains(body, "damaged") {
		t.Fatalf("the route of the damaged certificate answered %d %s", code, body)
	}
	if code, body := get(base + "/good/x"); code != http.StatusBadGateway || !strings.Contains(body, "backend_unreachable") {
		t.Fatalf("the route of the good certificate answered %d %s, want it to try the backend", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, urls["edge admin"]+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`"unavailable":\s*"damaged in certmgr: [^"]*` + broken.ID).Match(status) {
		t.Fatalf("the edge's status does not name the damaged certificate:\n%s", status)
	}
	if _, metrics := get(urls["edge admin"] + "/metrics"); !strings.Contains(metrics, `certbind_edge_certificates_unavailable{reason="damaged"} 1`) {
		t.Fatalf("the edge's metrics do not count it:\n%s", grepLines(metrics, "unavailable"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
