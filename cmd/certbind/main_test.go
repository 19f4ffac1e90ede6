package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// buildCLI builds this command once per test binary run.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certbind")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var restLine = regexp.MustCompile(`REST API\s+(http://\S+)`)

// startDev runs `certbind dev` as a real process and returns its REST URL.
// extra flags go after the others.
func startDev(t *testing.T, bin, dataDir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	// A data dir others may enter is refused, and t.TempDir() is 0755.
	if err := os.Chmod(dataDir, 0o700); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	// Every address is a free port, so that a certbind already running
	// on the defaults (a developer's, say) does not fail the test.
	cmd := exec.Command(bin, "dev", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := restLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return cmd, url
	case <-time.After(30 * time.Second):
		t.Fatal("certbind dev did not print its REST address")
	}
	return nil, ""
}

func runBin(t *testing.T, bin, url, key string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+url, "CERTBIND_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDevSurvivesKill9 writes through the CLI, kills `certbind dev` with
// SIGKILL, and checks that every acknowledged write is there after a restart,
// with the same admin key.
func TestDevSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dev, url := startDev(t, bin, data)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))

	ca := testpki.NewCA(t, "Kill Root")
	var names []string
	for i := range 5 {
		leaf := ca.Issue(t, testpki.Options{CommonName: "client"})
		certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
		os.WriteFile(certFile, leaf.CertPEM, 0o600)
		os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
		name := "cert" + string(rune('A'+i))
		if out, err := runBin(t, bin, url, key, "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
			"--name", name, "--account", "acme", "--project", "shop", "--environment-type", "production"); err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
		names = append(names, name)
	}
	if out, err := runBin(t, bin, url, key, "mtls-certificate", "disable", "--name", "certC", "--account", "acme", "--project", "shop"); err != nil {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if err := dev.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dev.Wait()

	_, url = startDev(t, bin, data)
	out, err := runBin(t, bin, url, key, "mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err != nil {
		t.Fatalf("list after kill -9 (same admin key): %v\n%s", err, out)
	}
	for _, n := range names {
		if !strings.Contains(out, n) {
			t.Errorf("%s lost after kill -9:\n%s", n, out)
		}
	}
	if !regexp.MustCompile(`certC\s+\S+\s+client\s+disabled`).MatchString(out) {
		t.Errorf("the disable was lost after kill -9:\n%s", out)
	}
}
