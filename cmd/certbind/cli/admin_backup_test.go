package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	certmgrstore "github.com/certbind/certbind/services/certmgr/store"
	deploystore "github.com/certbind/certbind/services/deploytracker/store"
)

// Backups taken while certificates are created, deployed, undeployed and
// deleted are each consistent across the two stores: every certificate a
// copied deployment references is in the copied certmgr.db. A deployment
// deleted and then its certificate deleted between the copy of the
// deploytracker and that of certmgr would break this without the check
// of the copies that repeats them.
func TestBackupConsistentUnderChurn(t *testing.T) {
	env := startSuite(t)
	dir := t.TempDir()
	leaf := testpki.NewCA(t, "Churn CA").Issue(t, testpki.Options{CommonName: "churn"})
	cert := writeFile(t, dir, "c.pem", string(leaf.CertPEM))
	key := writeFile(t, dir, "c.key", string(leaf.KeyPEM))
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	rounds := 0
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name, envName := fmt.Sprintf("churn%d", i), fmt.Sprintf("env%d", i)
			config := writeFile(t, dir, envName+".json", `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
				"options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "`+name+`"}}}]}`)
			for _, args := range [][]string{
				with("mtls-certificate", "create", "--cert", cert, "--key", key, "--name", name, "--environment-type", "production"),
				with("deploy", "--environment", envName, "--environment-type", "production", "--config", config),
				with("deployment", "delete", "--environment", envName),
				with("mtls-certificate", "delete", "--name", name),
			} {
				if _, stderr, err := runCLI(t, env, args...); err != nil {
					t.Errorf("churn: certbind %v: %v\n%s", args, err, stderr)
					return
				}
			}
			rounds++
		}
	}()

	c, err := NewClient(&GlobalOptions{APIURL: env[EnvAPIURL], APIKey: env[EnvAPIKey], Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	n := 0
	for ; time.Now().Before(deadline) || n < 5; n++ {
		out := filepath.Join(dir, fmt.Sprintf("backup%d", n))
		if _, err := runBackup(ctx, c, out); err != nil {
			t.Fatalf("backup %d: %v", n, err)
		}
		checkBackupConsistent(t, out)
	}
	cancel()
	wg.Wait()
	t.Logf("%d backups during %d rounds of create, deploy, undeploy, delete", n, rounds)
	if rounds < 5 {
		t.Errorf("only %d rounds of churn ran during the backups", rounds)
	}
}

func checkBackupConsistent(t *testing.T, dir string) {
	t.Helper()
	certs, err := certmgrstore.Open(filepath.Join(dir, "certmgr.db"), certmgrstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer certs.Close()
	deploys, err := deploystore.Open(filepath.Join(dir, "deploytracker.db"), deploystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer deploys.Close()
	list, _, err := deploys.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		for _, r := range d.References {
			if _, err := certs.GetCertificate(d.Account, d.Project, r.CertificateID); err != nil {
				t.Errorf("%s: deployment %s references certificate %s (%s), which the copied certmgr.db lacks: %v", dir, d.Environment, r.CertificateName, r.CertificateID, err)
			}
		}
	}
}

// A deployment deleted, and then its certificate, between the copy of the
// deploytracker and that of certmgr would leave a copied deployment whose
// certificate is not in the copy: the backup's check of the copies finds
// it and copies both again.
func TestBackupRepeatsWhenDeploymentsChange(t *testing.T) {
	env := startSuite(t)
	dir := t.TempDir()
	leaf := testpki.NewCA(t, "Backup CA").Issue(t, testpki.Options{CommonName: "backup"})
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }
	mustRun(t, env, with("mtls-certificate", "create", "--cert", writeFile(t, dir, "c.pem", string(leaf.CertPEM)),
		"--key", writeFile(t, dir, "c.key", string(leaf.KeyPEM)), "--name", "goneCert", "--environment-type", "production")...)
	mustRun(t, env, with("deploy", "--environment", "gone", "--environment-type", "production", "--config",
		writeFile(t, dir, "gateway.json", `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
			"options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "goneCert"}}}]}`))...)

	attempts := 0
	betweenCopies = func(attempt int) {
		attempts = attempt
		if attempt == 1 {
			mustRun(t, env, with("deployment", "delete", "--environment", "gone")...)
			mustRun(t, env, with("mtls-certificate", "delete", "--name", "goneCert")...)
		}
	}
	t.Cleanup(func() { betweenCopies = func(int) {} })
	c, err := NewClient(&GlobalOptions{APIURL: env[EnvAPIURL], APIKey: env[EnvAPIKey], Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backup")
	m, err := runBackup(context.Background(), c, out)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("the backup copied the stores %d times, want 2", attempts)
	}
	checkBackupConsistent(t, out)
	got, err := readManifest(out)
	if err != nil || got.Stores[0].Revision != m.Stores[0].Revision {
		t.Errorf("manifest %+v (%v), want the stores of the last copy", got, err)
	}
}

// The REST download: the copy with its description in headers and its
// SHA-256 in a trailer, for the admin key only; an unknown store is 404.
func TestBackupDownloadOverREST(t *testing.T) {
	env := startSuite(t)
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "api-key", "create", "--account", "acme", "--output", "json")), &created); err != nil || created.Key == "" {
		t.Fatalf("account key: %v", err)
	}
	accountKey := created.Key
	get := func(key, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", env[EnvAPIURL]+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	for _, store := range []string{"certmgr", "certmgr-webhooks", "deploytracker"} {
		resp, body := get(env[EnvAPIKey], "/v1/admin/backup/"+store)
		sum := sha256.Sum256(body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Certbind-Epoch") == "" || resp.Header.Get("X-Certbind-Size") != strconv.Itoa(len(body)) ||
			resp.Trailer.Get("X-Certbind-Sha256") != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %s, headers %v, trailer %v, %d bytes", store, resp.Status, resp.Header, resp.Trailer, len(body))
		}
		resp, body = get(accountKey, "/v1/admin/backup/"+store)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "only the admin key may take a backup") {
			t.Errorf("%s with an account key: %s %s", store, resp.Status, body)
		}
		resp, body = get(accountKey, "/v1/admin/backup/"+store+"/info")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s info with an account key: %s %s", store, resp.Status, body)
		}
	}
	if resp, body := get(env[EnvAPIKey], "/v1/admin/backup/master.key"); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "use certmgr, certmgr-webhooks or deploytracker") {
		t.Errorf("unknown store: %s %s", resp.Status, body)
	}
}
