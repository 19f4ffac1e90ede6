package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// hookSink is a webhook receiver on loopback that answers 204 and keeps
// the delivery id of each request.
type hookSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids []string
	// signed keeps, per delivery, its timestamp, signature and body.
	signed [][3]string
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.ids = append(h.ids, r.Header.Get(webhook.HeaderID))
		h.signed = append(h.signed, [3]string{r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), string(body)})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookSink) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids)
}

// waitFor waits until the sink has received n deliveries: the dispatcher
// sends them in the background, after each change.
func (h *hookSink) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(h.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d deliveries, want %d", len(h.received()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h.received()
}

// runningSuite is a suite on a data directory, for a test that stops it,
// restores into it and starts it again.
type runningSuite struct {
	env  map[string]string
	stop func()
}

const webhookBackupAdmin = "backup-admin-0123456789abcdef0123456789abcdef"

func startSuiteOn(t *testing.T, data string) *runningSuite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", AdminKey: webhookBackupAdmin})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	r := &runningSuite{env: map[string]string{EnvAPIURL: s.HTTPURL, EnvAPIKey: webhookBackupAdmin}}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func (r *runningSuite) client(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(&GlobalOptions{APIURL: r.env[EnvAPIURL], APIKey: r.env[EnvAPIKey], Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createHook creates a webhook of acme for certificate.created and
// returns its secret.
func (r *runningSuite) createHook(t *testing.T, name, url string) string {
	t.Helper()
	resp, err := r.client(t).CreateWebhook(context.Background(), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: name, Url: url,
		Events: []string{"certificate.created"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSecret()
}

func (r *runningSuite) createCert(t *testing.T, dir, name string) {
	t.Helper()
	leaf := testpki.NewCA(t, "Backup CA").Issue(t, testpki.Options{CommonName: name})
	mustRun(t, r.env, "mtls-certificate", "create", "--account", "acme", "--project", "shop", "--name", name, "--environment-type", "production",
		"--cert", writeFile(t, dir, name+".pem", string(leaf.CertPEM)), "--key", writeFile(t, dir, name+".key", string(leaf.KeyPEM)))
}

// digest names every file under dir with the SHA-256 of its contents.
func digest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		lines = append(lines, strings.TrimPrefix(p, dir)+" "+hex.EncodeToString(sum[:8]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// A backup holds certmgr's webhooks.db: a webhook and its delivery log
// survive backup, wiping the data directory, restore and start, and the
// deliveries made after the restore get ids that none before it had, so a
// receiver that drops ids it has seen drops none of them.
func TestBackupRestoresWebhooks(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	sink := newHookSink(t)
	s := startSuiteOn(t, data)
	s.createHook(t, "alerts", sink.srv.URL)
	s.createCert(t, tmp, "firstCert")
	sink.waitFor(t, 1)

	backup := filepath.Join(tmp, "backup")
	out := mustRun(t, s.env, "admin", "backup", "--out", backup)
	if !strings.Contains(out, "webhooks.db") {
		t.Errorf("backup output names no webhooks.db:\n%s", out)
	}
	m, err := readManifest(backup)
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := m.storeFile(webhooksName)
	if !ok || entry.File != webhooksFile || entry.Epoch == "" {
		t.Fatalf("the manifest has no webhooks.db entry: %+v", m.Stores)
	}
	if err := checkFile(filepath.Join(backup, webhooksFile), entry); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(backup, webhooksFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("webhooks.db in the backup: %v %v, want mode 0600", st, err)
	}
	certEntry, _ := m.storeFile("certmgr")
	if entry.Epoch != certEntry.Epoch {
		t.Errorf("webhooks.db follows epoch %s, certmgr.db has %s", entry.Epoch, certEntry.Epoch)
	}

	// After the backup: another webhook and more deliveries, which the
	// restore undoes.
	s.createHook(t, "later", sink.srv.URL)
	s.createCert(t, tmp, "secondCert")
	before := sink.waitFor(t, 3)
	s.stop()

	for _, d := range []string{"certmgr", "deploytracker"} {
		if err := os.RemoveAll(filepath.Join(data, d)); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, err := runCLI(t, nil, "admin", "restore", "--from", backup, "--data-dir", data)
	if err != nil || !strings.Contains(out, "webhooks.db") || !strings.Contains(out, "1 webhooks, 1 deliveries (0 pending") {
		t.Fatalf("restore: %v\n%s%s", err, out, stderr)
	}

	s = startSuiteOn(t, data)
	hooks, err := s.client(t).ListWebhooks(context.Background(), "acme")
	if err != nil || len(hooks.GetWebhooks()) != 1 || hooks.GetWebhooks()[0].GetName() != "alerts" {
		t.Fatalf("webhooks after the restore: %v %v, want alerts only", hooks, err)
	}
	dels, err := s.client(t).ListWebhookDeliveries(context.Background(), "acme", "alerts", 10)
	if err != nil || len(dels.GetDeliveries()) != 1 || dels.GetDeliveries()[0].GetId() != before[0] || dels.GetDeliveries()[0].GetState() != "delivered" {
		t.Fatalf("delivery log after the restore: %v %v, want the one delivered %s", dels, err, before[0])
	}
	s.createCert(t, tmp, "thirdCert")
	after := sink.waitFor(t, 4)
	if slices.Contains(before, after[3]) {
		t.Errorf("a delivery after the restore has id %s, which one before it had (%v)", after[3], before)
	}
}

// A backup whose webhooks.db is damaged, is not a webhook file, or comes
// from another suite is refused with an error that says what to do, and
// nothing in the data directory changes; --skip-webhooks restores the
// stores and leaves webhooks.db as it is; a backup from before webhooks
// were copied restores the same way.
func TestRestoreRefusesABadWebhookFile(t *testing.T) {
	tmp := t.TempDir()
	sink := newHookSink(t)
	backup := filepath.Join(tmp, "backup")
	other := filepath.Join(tmp, "other")
	for _, b := range []struct{ data, out string }{{filepath.Join(tmp, "data"), backup}, {filepath.Join(tmp, "otherdata"), other}} {
		s := startSuiteOn(t, b.data)
		s.createHook(t, "alerts", sink.srv.URL)
		s.createCert(t, tmp, "someCert")
		mustRun(t, s.env, "admin", "backup", "--out", b.out)
		s.stop()
	}
	data := filepath.Join(tmp, "data")
	hooksInPlace, err := os.ReadFile(filepath.Join(data, "certmgr", webhooksFile))
	if err != nil {
		t.Fatal(err)
	}

	// variant copies the backup with its webhooks.db replaced by data, and
	// its manifest entry made to match it, as a careful forger would.
	variant := func(name string, data []byte) string {
		dir := filepath.Join(tmp, name)
		if err := os.CopyFS(dir, os.DirFS(backup)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, webhooksFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := readManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		for i := range m.Stores {
			if m.Stores[i].Name == webhooksName {
				m.Stores[i].Size, m.Stores[i].SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
			}
		}
		if err := writeManifest(dir, m); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	good, err := os.ReadFile(filepath.Join(backup, webhooksFile))
	if err != nil {
		t.Fatal(err)
	}
	certDB, _ := os.ReadFile(filepath.Join(backup, "certmgr.db"))
	foreign, _ := os.ReadFile(filepath.Join(other, webhooksFile))
	flipped := filepath.Join(tmp, "flipped")
	if err := os.CopyFS(flipped, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(good)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(flipped, webhooksFile), bad, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, from, want string
	}{
		{"altered after the backup", flipped, "webhooks.db is damaged"},
		{"cut short", variant("short", good[:len(good)/2]), "is damaged"},
		{"empty", variant("empty", nil), "is empty"},
		{"certmgr.db in its place", variant("swapped", certDB), "it is not a webhook file"},
		{"from another suite", variant("foreign", foreign), "does not belong with its certmgr.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := digest(t, data)
			out, stderr, err := runCLI(t, nil, "admin", "restore", "--from", tc.from, "--data-dir", data, "--force")
			msg := out + stderr
			if err != nil {
				msg += err.Error()
			}
			if err == nil || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "--skip-webhooks") {
				t.Errorf("restore: %v\n%s\nwant an error that says %q and what to do", err, msg, tc.want)
			}
			if after := digest(t, data); after != before {
				t.Errorf("a refused restore changed the data directory:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}

	// --skip-webhooks restores the stores from the damaged backup.
	out, stderr, err := runCLI(t, nil, "admin", "restore", "--from", flipped, "--data-dir", data, "--force", "--skip-webhooks")
	if err != nil || !strings.Contains(out, "--skip-webhooks: ") || !strings.Contains(out, "new epoch") {
		t.Fatalf("restore --skip-webhooks: %v\n%s%s", err, out, stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(data, "certmgr", webhooksFile)); string(now) != string(hooksInPlace) {
		t.Error("restore --skip-webhooks changed webhooks.db")
	}

	// A backup from before webhooks were copied: no entry, no file.
	old := filepath.Join(tmp, "old")
	if err := os.CopyFS(old, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(old, webhooksFile))
	m, err := readManifest(old)
	if err != nil {
		t.Fatal(err)
	}
	m.Stores = slices.DeleteFunc(m.Stores, func(s backupStore) bool { return s.Name == webhooksName })
	data2, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(old, manifestName), data2, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runCLI(t, nil, "admin", "restore", "--from", old, "--data-dir", data, "--force")
	if err != nil || !strings.Contains(out, "holds no webhooks.db") {
		t.Fatalf("restore of a backup without webhooks.db: %v\n%s%s", err, out, stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(data, "certmgr", webhooksFile)); string(now) != string(hooksInPlace) {
		t.Error("restoring a backup without webhooks.db changed webhooks.db")
	}
	s := startSuiteOn(t, data)
	if hooks, err := s.client(t).ListWebhooks(context.Background(), "acme"); err != nil || len(hooks.GetWebhooks()) != 1 {
		t.Errorf("webhooks after restoring an old backup: %v %v", hooks, err)
	}
}

// A backup taken while the master key is rotated: if the whole rotation
// runs between the copy of webhooks.db and that of certmgr.db, the copied
// secrets are sealed under a key the copied certmgr.db no longer names, so
// the backup copies again; the restored suite, with the master key of the
// time, signs deliveries with the webhook's secret.
func TestBackupDuringMasterKeyRotation(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	sink := newHookSink(t)
	s := startSuiteOn(t, data)
	secret := s.createHook(t, "alerts", sink.srv.URL)
	s.createCert(t, tmp, "firstCert")
	sink.waitFor(t, 1)

	attempts := 0
	betweenCopies = func(attempt int) {
		attempts = attempt
		if attempt == 1 {
			mustRun(t, s.env, "admin", "rotate-master-key")
		}
	}
	t.Cleanup(func() { betweenCopies = func(int) {} })
	backup := filepath.Join(tmp, "backup")
	if _, err := runBackup(context.Background(), s.client(t), backup); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("the backup copied the files %d times, want 2 (the first copies disagree on the master key)", attempts)
	}
	s.stop()

	out, stderr, err := runCLI(t, nil, "admin", "restore", "--from", backup, "--data-dir", data, "--force")
	if err != nil {
		t.Fatalf("restore: %v\n%s%s", err, out, stderr)
	}
	s = startSuiteOn(t, data)
	s.createCert(t, tmp, "secondCert")
	sink.waitFor(t, 2)
	sink.mu.Lock()
	last := sink.signed[len(sink.signed)-1]
	sink.mu.Unlock()
	if !webhook.Verify(webhook.Secret(secret), last[0], last[1], []byte(last[2])) {
		t.Errorf("the delivery after the restore is not signed with the webhook's secret: %v", last)
	}
}

// A restore cut off at any step of putting files in place leaves each file
// whole, the old one or the restored one, never missing or torn; the same
// restore run again finishes it.
func TestRestoreCutOffLeavesWholeFiles(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	sink := newHookSink(t)
	s := startSuiteOn(t, data)
	s.createHook(t, "alerts", sink.srv.URL)
	s.createCert(t, tmp, "firstCert")
	backup := filepath.Join(tmp, "backup")
	mustRun(t, s.env, "admin", "backup", "--out", backup)
	s.createHook(t, "later", sink.srv.URL)
	s.createCert(t, tmp, "secondCert")
	s.stop()

	targets := []string{filepath.Join(data, "deploytracker", "deploytracker.db"), filepath.Join(data, "certmgr", "certmgr.db"),
		filepath.Join(data, "certmgr", webhooksFile)}
	sum := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			return "missing: " + err.Error()
		}
		h := sha256.Sum256(data)
		return hex.EncodeToString(h[:])
	}
	old := map[string]string{}
	for _, p := range targets {
		old[p] = sum(p)
	}
	t.Cleanup(func() { restoreStep = func(string, string) error { return nil } })
	for stop := 1; ; stop++ {
		steps := 0
		restoreStep = func(step, path string) error {
			steps++
			// Each file is there at every step, and no longer the old
			// one once put in place; the files are checked whole after
			// each cut below.
			for _, p := range targets {
				got := sum(p)
				if strings.HasPrefix(got, "missing") {
					t.Fatalf("stop %d, after %q of %s: %s is %s", stop, step, path, p, got)
				}
				if p == path && step == "in place" && got == old[p] {
					t.Fatalf("stop %d: %s is still the old file once in place", stop, p)
				}
			}
			if steps == stop {
				return errors.New("cut off")
			}
			return nil
		}
		_, _, err := runCLI(t, nil, "admin", "restore", "--from", backup, "--data-dir", data, "--force")
		if err == nil {
			if steps != 6 {
				t.Fatalf("the restore went through %d steps, want 6 (two per file)", steps)
			}
			break
		}
		if !strings.Contains(err.Error(), "cut off") {
			t.Fatalf("stop %d: %v", stop, err)
		}
		for _, p := range targets {
			if err := checkWhole(p); err != nil {
				t.Fatalf("stop %d: %s: %v", stop, p, err)
			}
		}
	}
	// After the last, complete run the suite starts on the backup's state.
	restoreStep = func(string, string) error { return nil }
	s = startSuiteOn(t, data)
	hooks, err := s.client(t).ListWebhooks(context.Background(), "acme")
	if err != nil || len(hooks.GetWebhooks()) != 1 {
		t.Fatalf("webhooks after the finished restore: %v %v", hooks, err)
	}
}

// checkWhole opens a store or webhook file read-only with the damage
// checks certmgr runs at start.
func checkWhole(path string) error {
	if filepath.Base(path) == webhooksFile {
		_, err := webhook.CheckFile(path)
		return err
	}
	return revlog.Inspect(path, func(*bolt.Tx) error { return nil })
}
