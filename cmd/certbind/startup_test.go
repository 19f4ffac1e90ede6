package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevStartupFailures starts the real `certbind dev` where it cannot
// run: each attempt must end with a non-zero exit and one line on stderr
// that says what is wrong, never a panic.
func TestDevStartupFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := busy.Addr().String()

	// A data dir in use by a running dev, for the second-process case.
	running := t.TempDir()
	startDev(t, bin, running)

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the data dir
		args  []string
		want  string
	}{
		{"REST port in use", nil, []string{"--http-addr", inUse}, "in use"},
		{"gRPC port in use", nil, []string{"--grpc-addr", inUse}, "in use"},
		{"edge port in use", nil, []string{"--edge-addr", inUse}, "in use"},
		{"edge admin port in use", nil, []string{"--edge-admin-addr", inUse}, "in use"},
		{"master key is a directory", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "master.key"), 0o700); err != nil {
				t.Fatal(err)
			}
			return dir
		}, nil, "master.key"},
		{"master key is empty", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "master.key"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}, nil, "master.key"},
		{"admin key readable by others", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "admin.key"), []byte(strings.Repeat("k", 40)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, nil, "chmod 600"},
		{"database readable by others", func(t *testing.T, dir string) string {
			data := devWithCertificate(t, bin, "shared")
			if err := os.Chmod(filepath.Join(data, "certmgr", "certmgr.db"), 0o644); err != nil {
				t.Fatal(err)
			}
			return data
		}, nil, "chmod 600"},
		{"second dev on the data dir", func(*testing.T, string) string { return running }, nil, "locked"},
		{"data dir others may enter", func(t *testing.T, dir string) string { return chmod(t, dir, 0o755) }, nil, "chmod 700"},
		{"data dir others may read", func(t *testing.T, dir string) string { return chmod(t, dir, 0o704) }, nil, "chmod 700"},
		{"data dir its group may write", func(t *testing.T, dir string) string { return chmod(t, dir, 0o770) }, nil, "chmod 700"},
		{"certmgr dir others may enter", func(t *testing.T, dir string) string {
			chmod(t, dir, 0o700)
			if err := os.Mkdir(filepath.Join(dir, "certmgr"), 0o755); err != nil {
				t.Fatal(err)
			}
			chmod(t, filepath.Join(dir, "certmgr"), 0o755) // past the umask
			return dir
		}, nil, "chmod 700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A data dir others may enter is refused, and t.TempDir() is
			// 0755: every case but those about the dir's mode starts private.
			dir := chmod(t, t.TempDir(), 0o700)
			if tt.setup != nil {
				dir = tt.setup(t, dir)
			}
			devFails(t, bin, dir, tt.args, tt.want)
		})
	}
}

// chmod sets path's mode and returns path.
func chmod(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
