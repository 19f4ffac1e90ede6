package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/suite"
)

// A restore refuses stores a running suite holds, even with --force, and
// changes nothing; once the suite is stopped it puts the backup in place.
func TestRestoreRefusesARunningSuite(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	const admin = "restore-admin-0123456789abcdef0123456789abcdef"
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", AdminKey: admin})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			cancel()
			<-done
			stopped = true
		}
	}
	t.Cleanup(stop)
	env := map[string]string{EnvAPIURL: s.HTTPURL, EnvAPIKey: admin}
	backup := filepath.Join(t.TempDir(), "backup")
	mustRun(t, env, "admin", "backup", "--out", backup)

	before, err := os.ReadFile(filepath.Join(data, "certmgr", "certmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCLI(t, nil, "admin", "restore", "--from", backup, "--data-dir", data, "--force")
	if err == nil || !strings.Contains(err.Error()+stderr, "open in a running process: stop the suite first") {
		t.Fatalf("restore under a running suite: %v %s", err, stderr)
	}
	after, _ := os.ReadFile(filepath.Join(data, "certmgr", "certmgr.db"))
	if string(after) != string(before) {
		t.Error("a refused restore changed certmgr.db")
	}

	stop()
	out, stderr, err := runCLI(t, nil, "admin", "restore", "--from", backup, "--data-dir", data, "--force")
	if err != nil || !strings.Contains(out, "new epoch") {
		t.Fatalf("restore of a stopped suite: %v\n%s%s", err, out, stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "certmgr", "certmgr.db.before-restore-*"))
	if len(kept) != 1 {
		t.Errorf("the replaced certmgr.db is kept as %v, want one file", kept)
	}
}

// A backup directory without a usable manifest is refused before anything
// is touched.
func TestRestoreNeedsTheManifest(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct{ manifest, want string }{
		{"", "read the backup's manifest"},
		{"{", "is not valid JSON"},
		{`{"format": 2}`, "has format 2"},
		{`{"format": 1, "stores": [{"name": "certmgr", "file": "certmgr.db"}]}`, "lists no deploytracker.db"},
		{`{"format": 1, "stores": [{"name": "certmgr", "file": "certmgr.db"}, {"name": "deploytracker", "file": "deploytracker.db"},
			{"name": "certmgr-webhooks", "file": "../master.key"}]}`, "lists an unknown store"},
		{`{"format": 1, "stores": [{"name": "certmgr", "file": "certmgr.db"}, {"name": "deploytracker", "file": "deploytracker.db"},
			{"name": "certmgr-webhooks", "file": "webhooks.db"}, {"name": "certmgr-webhooks", "file": "webhooks.db"}]}`, "lists webhooks.db twice"},
	} {
		from := t.TempDir()
		if tc.manifest != "" {
			writeFile(t, from, "manifest.json", tc.manifest)
		}
		_, stderr, err := runCLI(t, nil, "admin", "restore", "--from", from, "--data-dir", data)
		if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("manifest %q: %v %s, want an error that says %q", tc.manifest, err, stderr, tc.want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused restore created the data dir (%v)", err)
	}
}

// FuzzReadManifest reads manifests made of arbitrary bytes: readManifest
// returns an error or a manifest that names both stores and only files it
// knows, each once, and never panics.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"format": 1, "stores": [{"name": "deploytracker", "file": "deploytracker.db", "size": "1", "revision": "2"}, {"name": "certmgr-webhooks", "file": "webhooks.db"}, {"name": "certmgr", "file": "certmgr.db"}]}`))
	f.Add([]byte(`{"format": 1, "stores": [{"name": "certmgr", "file": "certmgr.db"}]}`))
	f.Add([]byte(`{"format": 2}`))
	f.Add([]byte(`{`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, manifestName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := readManifest(dir)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, s := range m.Stores {
			if seen[s.Name] || strings.ContainsAny(s.File, "/\\") || !strings.HasSuffix(s.File, ".db") {
				t.Fatalf("accepted manifest lists %+v", m.Stores)
			}
			seen[s.Name] = true
		}
		if !seen["certmgr"] || !seen["deploytracker"] {
			t.Fatalf("accepted manifest lacks a store: %+v", m.Stores)
		}
	})
}
