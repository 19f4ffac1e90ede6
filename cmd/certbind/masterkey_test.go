package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/services/certmgr/testpki"
)

// TestDevMasterKeyMissing uploads a certificate through the real `certbind
// dev`, deletes master.key and starts again: dev must refuse with one error
// line naming the file, and must not create a new key over the data.
func TestDevMasterKeyMissing(t *testing.T) {
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
	leaf := testpki.NewCA(t, "Master Key Root").Issue(t, testpki.Options{CommonName: "client"})
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, leaf.CertPEM, 0o600)
	os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
	if out, err := runBin(t, bin, url, key, "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
		"--name", "sealed", "--account", "acme", "--project", "shop", "--environment-type", "production"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if err := dev.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	dev.Wait()

	masterKey := filepath.Join(data, "master.key")
	if err := os.Remove(masterKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("dev without its master key was still running after 30s; stderr:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("dev without its master key ended with %v, want a non-zero exit; stderr:\n%s", err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], "master.key") {
		t.Errorf("stderr has %d line(s) besides the log, want one error naming master.key:\n%s", len(lines), stderr.String())
	}
	if _, err := os.Stat(masterKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dev wrote a new master.key over existing data (stat: %v)", err)
	}
}
