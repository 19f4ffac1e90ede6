package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testpki"
)

// TestBackupRestoreEdgeResyncs takes a backup of a running suite (every
// part its own process), makes more writes (a new certificate and a
// deployment that uses it, a deployment deleted, a certificate rotated),
// stops the services, restores the backup and starts them again, while the
// edge process stays up. Before the edge reconnects the restored stores
// take as many new writes as the edge had seen, so that by revision alone
// the edge would look current: it must resync (the restored stores have
// new epochs) and serve exactly the restored state. A non-admin key is
// refused, and a tampered backup is refused and changes nothing.
func TestBackupRestoreEdgeResyncs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	dir := t.TempDir()
	runAs := func(key string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(c.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+key)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := runAs(c.adminKey, args...)
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
	leaf := func(n string) (string, string) {
		l := clientCA.Issue(t, testpki.Options{CommonName: "client-" + n})
		return file("client"+n+".pem", l.CertPEM), file("client"+n+".key", l.KeyPEM)
	}
	gateway := func(cert string) string {
		return file(cert+".json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "`+cert+`", "caCertificate": "backendCa"}}}]}`))
	}
	deploy := func(env, cert string) {
		t.Helper()
		must(with("deploy", "--environment", env, "--environment-type", "production", "--config", gateway(cert))...)
	}
	url := func(env string) string { return "http://" + c.edgeAddr + "/acme/shop/" + env + "/api/hello" }

	cert1, key1 := leaf("1")
	must(with("mtls-certificate", "create", "--cert", cert1, "--key", key1, "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	deploy("production", "myBackendCert")
	deploy("extra", "myBackendCert")
	e2etest.Eventually(t, url("production"), 200, "CN=client-1")
	e2etest.Eventually(t, url("extra"), 200, "CN=client-1")

	// Only the admin key takes a backup.
	var account struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--output", "json")), &account); err != nil || account.Key == "" {
		t.Fatalf("account key: %v", err)
	}
	for name, k := range map[string]string{"account": account.Key, "edge": c.edgeKey} {
		out, err := runAs(k, "admin", "backup", "--out", filepath.Join(dir, "refused-"+name))
		if err == nil || !strings.Contains(out, "only the admin key may take a backup") {
			t.Errorf("backup with the %s key: %v\n%s", name, err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "refused-"+name)); !os.IsNotExist(err) {
			t.Errorf("a refused backup left %s behind (%v)", filepath.Join(dir, "refused-"+name), err)
		}
	}

	backup := filepath.Join(dir, "backup")
	must("admin", "backup", "--out", backup)
	checkMode(t, backup, 0o700)
	for _, f := range []string{"certmgr.db", "deploytracker.db", "webhooks.db", "manifest.json"} {
		checkMode(t, filepath.Join(backup, f), 0o600)
	}

	// Writes after the backup, which the restore must undo.
	cert2, key2 := leaf("2")
	must(with("mtls-certificate", "create", "--cert", cert2, "--key", key2, "--name", "newCert", "--environment-type", "production")...)
	deploy("later", "newCert")
	must(with("deployment", "delete", "--environment", "extra")...)
	cert3, key3 := leaf("3")
	must(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", cert3, "--key", key3)...)
	e2etest.Eventually(t, url("production"), 200, "CN=client-3")
	e2etest.Eventually(t, url("later"), 200, "CN=client-2")
	e2etest.Eventually(t, url("extra"), 404, "")
	held := edgeStatus(t, c)
	if !held.hasCertificate("newCert") {
		t.Fatalf("the edge does not hold newCert before the restore: %+v", held)
	}

	// The edge stays up but is held still until the restored suite has
	// caught up with the revisions it holds.
	edge := c.procs["edge"].Process
	if err := edge.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer edge.Signal(syscall.SIGCONT)
	for _, name := range []string{"restapi", "deploytracker", "certmgr"} {
		p := c.procs[name]
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		delete(c.procs, name)
	}
	restore := func(from string, extra ...string) (string, error) {
		args := append([]string{"admin", "restore", "--from", from, "--certmgr-data-dir", filepath.Join(c.dir, "certmgr"),
			"--deploytracker-data-dir", filepath.Join(c.dir, "deploytracker")}, extra...)
		return runAs("", args...)
	}

	// A tampered backup is refused and changes nothing.
	before := dirDigest(t, c.dir)
	tampered := filepath.Join(dir, "tampered")
	if err := os.CopyFS(tampered, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(tampered, "certmgr.db")
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := restore(tampered, "--force"); err == nil || !strings.Contains(out, "certmgr.db is damaged") || !strings.Contains(out, "SHA-256") {
		t.Errorf("restore of a tampered backup: %v\n%s", err, out)
	}
	// Without --force the stores in place are kept.
	if out, err := restore(backup); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("restore over existing stores without --force: %v\n%s", err, out)
	}
	if after := dirDigest(t, c.dir); after != before {
		t.Errorf("a refused restore changed the data dirs:\nbefore %s\nafter  %s", before, after)
	}

	if out, err := restore(backup, "--force"); err != nil || !strings.Contains(out, "new epoch") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	c.start("certmgr")
	c.start("deploytracker")
	c.start("restapi")

	// New writes bring the restored stores' heads to where the edge is.
	for i := 0; revisionOf(t, c, "certmgr") < held.revision("certificates"); i++ {
		cert, key := leaf("after" + strconv.Itoa(i))
		must(with("mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "afterRestore"+strconv.Itoa(i), "--environment-type", "production")...)
	}
	for i := 0; revisionOf(t, c, "deploytracker") < held.revision("deployments"); i++ {
		deploy("after"+strconv.Itoa(i), "myBackendCert")
	}

	if err := edge.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The restored state: the rotation is undone, the deleted deployment
	// answers again, the certificate and deployment made after the backup
	// are gone.
	e2etest.Eventually(t, url("production"), 200, "CN=client-1")
	e2etest.Eventually(t, url("extra"), 200, "CN=client-1")
	e2etest.Eventually(t, url("later"), 404, "")
	e2etest.Eventually(t, url("after0"), 200, "CN=client-1")
	st := edgeStatus(t, c)
	if st.hasCertificate("newCert") {
		t.Errorf("the edge still holds newCert, created after the backup")
	}
	for _, s := range st.Streams {
		if s.Resyncs < 2 {
			t.Errorf("stream %s resynced %d times, want its first snapshot and one after the restore", s.Name, s.Resyncs)
		}
		if s.Epoch == "" || s.Epoch == held.epoch(s.Name) {
			t.Errorf("stream %s is at epoch %q after the restore, want a new one (before: %q)", s.Name, s.Epoch, held.epoch(s.Name))
		}
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

// dirDigest names every file under dir with its SHA-256.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".log") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		b.WriteString(p + "=" + hex.EncodeToString(sum[:8]) + " ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// revisionOf asks the REST facade for a store's head revision.
func revisionOf(t *testing.T, c *cluster, store string) uint64 {
	t.Helper()
	req, _ := http.NewRequest("GET", c.restURL+"/v1/admin/backup/"+store+"/info", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Revision uint64 `json:"revision,string"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("%s info: %v", store, err)
	}
	return info.Revision
}

// number reads a protojson integer, which 64-bit fields write as a string.
type number uint64

func (n *number) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(strings.Trim(string(b), `"`), 10, 64)
	*n = number(v)
	return err
}

type edgeState struct {
	Streams []struct {
		Name     string
		Revision number
		Resyncs  number
		Epoch    string
	}
	Certificates []struct{ Name string }
}

func (s edgeState) hasCertificate(name string) bool {
	for _, c := range s.Certificates {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (s edgeState) revision(stream string) uint64 {
	for _, st := range s.Streams {
		if st.Name == stream {
			return uint64(st.Revision)
		}
	}
	return 0
}

func (s edgeState) epoch(stream string) string {
	for _, st := range s.Streams {
		if st.Name == stream {
			return st.Epoch
		}
	}
	return ""
}

func edgeStatus(t *testing.T, c *cluster) edgeState {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+c.edgeAdminAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+c.edgeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var st edgeState
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("edge status: %v\n%s", err, body)
	}
	if len(st.Streams) != 2 {
		t.Fatalf("edge status shows %d streams, want 2:\n%s", len(st.Streams), body)
	}
	return st
}
