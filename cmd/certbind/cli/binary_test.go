package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// built is the certbind binary that the tests which need a real process
// (exit statuses, a terminal, the build info) run; it is built once per
// test binary, into a directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// certbindBinary builds cmd/certbind on first use and returns its path.
func certbindBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "certbind-cli-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "certbind")
		// -buildvcs=auto stamps the commit when the tests run in a git
		// checkout, which TestVersionBinary checks.
		cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", built.path, "github.com/certbind/certbind/cmd/certbind")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// runBinary runs the certbind binary with args and exactly the environment
// env (plus PATH and a HOME of the test's own, so that no file of the user
// running the tests is read), and returns its output and exit status.
func runBinary(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinaryWithInput(t, env, "", args...)
}

// runBinaryWithInput is runBinary with stdin reading from input.
func runBinaryWithInput(t *testing.T, env map[string]string, input string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := certbindBinary(t) // before the clock starts: the first call builds it
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = binaryEnv(t, env)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errOut, strings.NewReader(input)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running certbind: %v", err)
	}
	return out.String(), errOut.String(), code
}

// binaryEnv is env as a process environment, with PATH, and HOME and
// XDG_CONFIG_HOME in a temp dir unless env sets them.
func binaryEnv(t *testing.T, env map[string]string) []string {
	t.Helper()
	full := map[string]string{"PATH": os.Getenv("PATH")}
	home := t.TempDir()
	full["HOME"] = home
	full["XDG_CONFIG_HOME"] = filepath.Join(home, ".config")
	for k, v := range env {
		full[k] = v
	}
	list := make([]string, 0, len(full))
	for k, v := range full {
		list = append(list, k+"="+v)
	}
	return list
}
