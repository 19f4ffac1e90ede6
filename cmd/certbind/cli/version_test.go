package cli

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersionBinary runs "certbind version" and "--version" of a real
// binary and checks them against what "go version -m" reads from it. (The
// Go toolchain records the commit in a plain git checkout, not in a git
// worktree; the test holds in both.)
func TestVersionBinary(t *testing.T) {
	stdout, stderr, code := runBinary(t, nil, "version", "--output", "json")
	if code != 0 {
		t.Fatalf("certbind version: exit status %d\n%s", code, stderr)
	}
	var got buildInfo
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("version --output json: %v\n%s", err, stdout)
	}
	if got.GoVersion != runtime.Version() || got.Version == "" {
		t.Errorf("version = %+v, want the Go version %s and a version", got, runtime.Version())
	}
	recorded, err := exec.Command("go", "version", "-m", certbindBinary(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := buildInfo{Commit: "unknown"}
	for _, line := range strings.Split(string(recorded), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "build\tvcs.revision="); ok {
			want.Commit = v
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "build\tvcs.modified="); ok {
			want.Modified = v == "true"
		}
	}
	if got.Commit != want.Commit || got.Modified != want.Modified {
		t.Errorf("commit %q, modified %v; go version -m says %q, %v", got.Commit, got.Modified, want.Commit, want.Modified)
	}

	line, _, code := runBinary(t, nil, "--version")
	prefix := "certbind " + got.Version + " (commit " + got.Commit
	if code != 0 || !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, got.GoVersion+")\n") {
		t.Errorf("--version = %q (exit status %d), want %q... %s)", line, code, prefix, got.GoVersion)
	}
	table, _, _ := runBinary(t, nil, "version")
	for _, want := range []string{"Version:", "Commit:    " + got.Commit, "Go:        " + got.GoVersion} {
		if !strings.Contains(table, want) {
			t.Errorf("version lacks %q:\n%s", want, table)
		}
	}
}

// TestBuildInfoLine checks the one-line form with and without changes.
func TestBuildInfoLine(t *testing.T) {
	b := buildInfo{Version: "v1.2.0", Commit: "0123abc", GoVersion: "go1.26.0"}
	if got, want := b.line(), "certbind v1.2.0 (commit 0123abc, go1.26.0)"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	b.Modified = true
	if got, want := b.line(), "certbind v1.2.0 (commit 0123abc, modified, go1.26.0)"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}
