package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyRun runs the certbind binary on a real pseudo-terminal (stdin, stdout
// and stderr), answers answer once the output holds "[y/N]" (or never, when
// answer is empty), and returns everything it printed and its exit status.
func ptyRun(t *testing.T, env map[string]string, answer string, args ...string) (string, int) {
	t.Helper()
	bin := certbindBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = binaryEnv(t, env)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if answer != "" {
		for !strings.Contains(func() string { mu.Lock(); defer mu.Unlock(); return out.String() }(), "[y/N]") {
			if ctx.Err() != nil {
				t.Fatalf("no question asked; output so far:\n%s", out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := io.WriteString(tty, answer+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	err = cmd.Wait()
	<-done // the terminal reads EIO once the process is gone
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return out.String(), code
}

// TestDeleteConfirmsOnATerminal deletes certificates and a deployment of
// the real suite from the binary on a pseudo-terminal, answering no and
// yes, with --yes, and without a terminal.
func TestDeleteConfirmsOnATerminal(t *testing.T) {
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}},
		certSpec{name: "otherCert", days: 100, types: []string{"production"}},
		certSpec{name: "scriptCert", days: 100, types: []string{"production"}})
	env := realEnv(t)
	in := []string{"--account", account, "--project", "shop"}
	exists := func(i int) bool {
		_, err := adminClient(t).GetCertificate(t.Context(), account, "shop", certs[i].GetId())
		return err == nil
	}

	out, code := ptyRun(t, env, "n", append([]string{"mtls-certificate", "rm", "myBackendCert"}, in...)...)
	question := "Delete certificate myBackendCert (" + certs[0].GetId() + ") in " + account + "/shop? [y/N]"
	if !strings.Contains(out, question) || !strings.Contains(out, "nothing was deleted") || code != ExitOther || !exists(0) {
		t.Errorf("answering n: exit status %d, certificate there: %v, output:\n%s", code, exists(0), out)
	}
	out, code = ptyRun(t, env, "y", append([]string{"mtls-certificate", "delete", "myBackendCert"}, in...)...)
	if !strings.Contains(out, question) || !strings.Contains(out, "deleted certificate myBackendCert") || code != 0 || exists(0) {
		t.Errorf("answering y: exit status %d, certificate there: %v, output:\n%s", code, exists(0), out)
	}
	out, code = ptyRun(t, env, "", append([]string{"mtls-certificate", "delete", "otherCert", "--yes"}, in...)...)
	if strings.Contains(out, "[y/N]") || code != 0 || exists(1) {
		t.Errorf("--yes: exit status %d, certificate there: %v, output:\n%s", code, exists(1), out)
	}
	// Without a terminal nothing is asked, as scripts expect.
	stdout, stderr, code := runBinary(t, env, append([]string{"mtls-certificate", "delete", "scriptCert"}, in...)...)
	if strings.Contains(stdout+stderr, "[y/N]") || code != 0 || exists(2) {
		t.Errorf("without a terminal: exit status %d, certificate there: %v, output:\n%s%s", code, exists(2), stdout, stderr)
	}

	// A certificate in use is refused without a question first.
	used := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	prod := deployTo(t, account, "production", "production", oneRouteConfig)
	waitReferences(t, account, used.GetId(), 1)
	out, code = ptyRun(t, env, "", append([]string{"mtls-certificate", "rm", "myBackendCert"}, in...)...)
	if strings.Contains(out, "[y/N]") || !strings.Contains(out, prod) || code != ExitRefused {
		t.Errorf("delete of a certificate in use: exit status %d, output:\n%s", code, out)
	}

	deployTo(t, account, "pr-42", "preview", previewJSON)
	out, code = ptyRun(t, env, "yes", append([]string{"deployment", "rm", "pr-42"}, in...)...)
	if !strings.Contains(out, "Delete the deployment of environment pr-42 (dep_") || !strings.Contains(out, "deleted deployment") || code != 0 {
		t.Errorf("deployment rm: exit status %d, output:\n%s", code, out)
	}
}
