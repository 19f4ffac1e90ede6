package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// devWithCertificate runs the real `certbind dev` on a new data dir,
// uploads one certificate named name through the CLI, stops dev with an
// interrupt and returns the data dir, which then holds data.
func devWithCertificate(t *testing.T, bin, name string) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dev, url := startDev(t, bin, data)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf := testpki.NewCA(t, "Dev Root").Issue(t, testpki.Options{CommonName: "client"})
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, leaf.CertPEM, 0o600)
	os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
	if out, err := runBin(t, bin, url, strings.TrimSpace(string(keyBytes)), "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
		"--name", name, "--account", "acme", "--project", "shop", "--environment-type", "production"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if err := dev.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	dev.Wait()
	return data
}

// devFails runs `certbind dev` on dataDir, every address a free port
// unless args set it, and checks that it fails as a start-up failure must:
// a non-zero exit within 30s, no panic, and one line on stderr besides the
// services' JSON log lines, "error: ..." holding every string of want.
func devFails(t *testing.T, bin, dataDir string, args []string, want ...string) {
	t.Helper()
	flags := map[string]string{"--data-dir": dataDir, "--http-addr": "127.0.0.1:0", "--grpc-addr": "127.0.0.1:0",
		"--edge-addr": "127.0.0.1:0", "--edge-admin-addr": "127.0.0.1:0", "--metrics-addr": "127.0.0.1:0"}
	for i := 0; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	argv := []string{"dev"}
	for k, v := range flags {
		argv = append(argv, k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := stderr.String()
	if ctx.Err() != nil {
		t.Fatalf("dev was still running after 30s; stderr:\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("dev ended with %v, want a non-zero exit; stderr:\n%s", err, out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") || strings.Contains(out, "fatal error") {
		t.Fatalf("dev panicked:\n%s", out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	ok := len(lines) == 1 && strings.HasPrefix(lines[0], "error: ")
	for _, w := range want {
		ok = ok && strings.Contains(lines[0], w)
	}
	if !ok {
		t.Errorf("stderr has %d line(s) besides the log, want one error holding %q:\n%s", len(lines), want, out)
	}
}
