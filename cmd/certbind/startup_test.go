package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{"second dev on the data dir", func(*testing.T, string) string { return running }, nil, "locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				dir = tt.setup(t, dir)
			}
			args := map[string]string{"--data-dir": dir, "--http-addr": "127.0.0.1:0", "--grpc-addr": "127.0.0.1:0",
				"--edge-addr": "127.0.0.1:0", "--edge-admin-addr": "127.0.0.1:0"}
			for i := 0; i+1 < len(tt.args); i += 2 {
				args[tt.args[i]] = tt.args[i+1]
			}
			argv := []string{"dev"}
			for k, v := range args {
				argv = append(argv, k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, argv...)
			cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("dev ended with %v, want a non-zero exit; stderr:\n%s", err, stderr.String())
			}
			if ctx.Err() != nil {
				t.Fatalf("dev did not end within 30s; stderr:\n%s", stderr.String())
			}
			out := stderr.String()
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("dev panicked:\n%s", out)
			}
			// The services' JSON log lines may come first; the error is
			// the one line that is not one of them.
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(l, "{") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr has %d line(s) besides the log, want one error naming %q:\n%s", len(lines), tt.want, out)
			}
		})
	}
}
