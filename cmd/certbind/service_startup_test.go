package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serviceEnv is the environment certmgr and the deploytracker start with
// in these tests: an admin key of a valid length and a service key.
var serviceEnv = []string{"CERTBIND_ADMIN_KEY=startup-admin-0123456789abcdef0123456789", "CERTBIND_SERVICE_KEY=startup-service"}

// startService starts the binary name from the test binaries with args
// and waits until addr accepts connections. The process is killed when
// the test ends; stop ends it before.
func startService(t *testing.T, name, addr string, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), name), args...)
	cmd.Env = append(os.Environ(), serviceEnv...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%s did not start listening on %s:\n%s", name, addr, out.String())
		}
	}
}

// initKey makes a master key file with certmgr --init-master-key.
func initKey(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command(filepath.Join(binaries(t), "certmgr"), "--init-master-key", "--master-key-file", path).CombinedOutput(); err != nil {
		t.Fatalf("init master key: %v\n%s", err, out)
	}
}

// serviceFails runs the binary name with args where it cannot start: it
// must exit non-zero, without a panic, having written one line besides its
// JSON log, "error: NAME: ...", holding each of want and naming the
// program once.
func serviceFails(t *testing.T, name string, args []string, want ...string) {
	t.Helper()
	bin := filepath.Join(binaries(t), name) // built before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), serviceEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("%s was still running after 30s; stderr:\n%s", name, out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("%s ended with %v, want a non-zero exit; stderr:\n%s", name, err, out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") || strings.Contains(out, "fatal error") {
		t.Fatalf("%s panicked:\n%s", name, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	ok := len(lines) == 1 && strings.HasPrefix(lines[0], "error: "+name+": ") && strings.Count(lines[0], name+": ") == 1
	for _, w := range want {
		ok = ok && strings.Contains(lines[0], w)
	}
	if !ok {
		t.Errorf("stderr has %d line(s) besides the log, want one \"error: %s: ...\" naming %s once and holding %q:\n%s", len(lines), name, name, want, out)
	}
}

// TestServiceStartupFailures starts the real certmgr and deploytracker
// binaries where they cannot run: a port in use, a bad master key, a
// damaged or emptied database, a second process on the data dir, a data
// dir others may enter. Each must end with a non-zero exit and one line
// that says what is wrong, never a panic.
func TestServiceStartupFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	root := chmod(t, t.TempDir(), 0o700)
	key, otherKey := filepath.Join(root, "master.key"), filepath.Join(root, "other.key")
	initKey(t, key)
	initKey(t, otherKey)

	// A certmgr and a deploytracker that run throughout: their ports and
	// data dirs are the ones in use.
	cmListen, cmAdmin, dtListen, dtAdmin := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cmRunning, dtRunning := filepath.Join(root, "certmgr-running"), filepath.Join(root, "tracker-running")
	startService(t, "certmgr", cmListen, "--data-dir", cmRunning, "--master-key-file", key, "--listen", cmListen, "--admin-listen", cmAdmin)
	startService(t, "deploytracker", dtListen, "--data-dir", dtRunning, "--certmgr-addr", cmListen, "--listen", dtListen, "--admin-listen", dtAdmin)

	// used returns a data dir that the service has run on and left, with
	// its store in it.
	used := func(t *testing.T, name string) string {
		dir := filepath.Join(t.TempDir(), "data")
		addr := freeAddr(t)
		args := []string{"--data-dir", dir, "--listen", addr, "--admin-listen", "127.0.0.1:0"}
		if name == "certmgr" {
			args = append(args, "--master-key-file", key)
		} else {
			args = append(args, "--certmgr-addr", cmListen)
		}
		startService(t, name, addr, args...)()
		return dir
	}
	db := map[string]string{"certmgr": "certmgr.db", "deploytracker": "deploytracker.db"}

	type failure struct {
		name string
		// setup returns the data dir and the flags to add, or nil for
		// the defaults.
		setup func(t *testing.T, service string) (dir string, args []string)
		want  []string
	}
	common := []failure{
		{"gRPC port in use", func(t *testing.T, service string) (string, []string) {
			return filepath.Join(t.TempDir(), "data"), []string{"--listen", cmListen}
		}, []string{"in use", "--listen"}},
		{"admin port in use", func(t *testing.T, service string) (string, []string) {
			return filepath.Join(t.TempDir(), "data"), []string{"--admin-listen", dtAdmin}
		}, []string{"in use", "--admin-listen"}},
		{"empty database", func(t *testing.T, service string) (string, []string) {
			dir := used(t, service)
			if err := os.Truncate(filepath.Join(dir, db[service]), 0); err != nil {
				t.Fatal(err)
			}
			return dir, nil
		}, []string{"empty (0 bytes)", "restore it from a backup"}},
		{"database truncated to half", func(t *testing.T, service string) (string, []string) {
			dir := used(t, service)
			path := filepath.Join(dir, db[service])
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return dir, nil
		}, []string{"damaged", "restore it from a backup"}},
		{"second process on the data dir", func(t *testing.T, service string) (string, []string) {
			if service == "certmgr" {
				return cmRunning, nil
			}
			return dtRunning, nil
		}, []string{"locked by another process"}},
		{"data dir others may enter", func(t *testing.T, service string) (string, []string) {
			return chmod(t, used(t, service), 0o755), nil
		}, []string{"chmod 700"}},
		{"database others may read", func(t *testing.T, service string) (string, []string) {
			dir := used(t, service)
			chmod(t, filepath.Join(dir, db[service]), 0o644)
			return dir, nil
		}, []string{"chmod 600"}},
	}
	keyFailures := []failure{
		{"master key too short", func(t *testing.T, _ string) (string, []string) {
			short := filepath.Join(t.TempDir(), "short.key")
			if err := os.WriteFile(short, []byte("0123abcd\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(t.TempDir(), "data"), []string{"--master-key-file", short}
		}, []string{"64 hex characters"}},
		{"master key is a directory", func(t *testing.T, _ string) (string, []string) {
			return filepath.Join(t.TempDir(), "data"), []string{"--master-key-file", t.TempDir()}
		}, []string{"not a regular file"}},
		{"master key others may read", func(t *testing.T, _ string) (string, []string) {
			open := filepath.Join(t.TempDir(), "open.key")
			data, err := os.ReadFile(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(open, data, 0o600); err != nil {
				t.Fatal(err)
			}
			chmod(t, open, 0o644)
			return filepath.Join(t.TempDir(), "data"), []string{"--master-key-file", open}
		}, []string{"chmod 600"}},
		{"master key missing over a store", func(t *testing.T, service string) (string, []string) {
			return used(t, service), []string{"--master-key-file", filepath.Join(t.TempDir(), "gone.key")}
		}, []string{"is missing", "restore"}},
		{"wrong master key", func(t *testing.T, service string) (string, []string) {
			return used(t, service), []string{"--master-key-file", otherKey}
		}, []string{"does not open this database", "restore the master key file"}},
	}

	for _, service := range []string{"certmgr", "deploytracker"} {
		cases := common
		if service == "certmgr" {
			cases = append(append([]failure(nil), common...), keyFailures...)
		}
		for _, tt := range cases {
			t.Run(service+"/"+tt.name, func(t *testing.T) {
				dir, extra := tt.setup(t, service)
				flags := map[string]string{"--data-dir": dir, "--listen": "127.0.0.1:0", "--admin-listen": "127.0.0.1:0"}
				if service == "certmgr" {
					flags["--master-key-file"] = key
				} else {
					flags["--certmgr-addr"] = cmListen
				}
				for i := 0; i+1 < len(extra); i += 2 {
					flags[extra[i]] = extra[i+1]
				}
				var args []string
				for k, v := range flags {
					args = append(args, k, v)
				}
				serviceFails(t, service, args, tt.want...)
			})
		}
	}
}

// TestEdgeAndRESTStartupFailures: the real edge and REST facade binaries
// on a port in use, or the edge without its key, end with one
// "error: NAME: ..." line and a non-zero exit, never a panic.
func TestEdgeAndRESTStartupFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := busy.Addr().String()
	// Nothing needs to answer at these: both fail before they dial.
	control := []string{"--certmgr-addr", freeAddr(t), "--deploytracker-addr", freeAddr(t)}
	t.Setenv("CERTBIND_EDGE_KEY", "an-edge-key")
	tests := []struct {
		name, bin string
		args      []string
		want      []string
	}{
		{"REST port in use", "restapi", []string{"--listen", inUse, "--admin-listen", "127.0.0.1:0"}, []string{"in use", "--listen"}},
		{"REST admin port in use", "restapi", []string{"--listen", "127.0.0.1:0", "--admin-listen", inUse}, []string{"in use", "--admin-listen"}},
		{"edge port in use", "edge", []string{"--listen", inUse, "--admin-listen", "127.0.0.1:0"}, []string{"in use", "--listen"}},
		{"edge admin port in use", "edge", []string{"--listen", "127.0.0.1:0", "--admin-listen", inUse}, []string{"in use", "--admin-listen"}},
		{"edge gRPC port in use", "edge", []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--grpc-listen", inUse}, []string{"in use", "--grpc-listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serviceFails(t, tt.bin, append(append([]string(nil), tt.args...), control...), tt.want...)
		})
	}
	t.Run("edge without its key", func(t *testing.T) {
		t.Setenv("CERTBIND_EDGE_KEY", "")
		serviceFails(t, "edge", append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, control...), "CERTBIND_EDGE_KEY is not set")
	})
}
