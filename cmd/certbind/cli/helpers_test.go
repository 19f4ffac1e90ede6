package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testKey = "test-key"

// runCLI runs the command tree with args and the given environment, and
// returns what it printed and the error main would print.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLIWithInput(t, env, "", args...)
}

// runCLIWithInput is runCLI with stdin reading from input (not a terminal).
func runCLIWithInput(t *testing.T, env map[string]string, input string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	// Unless the test names a config file, the CLI gets one that does not
	// exist, so that the profiles of whoever runs the tests stay out of it.
	noConfig := filepath.Join(t.TempDir(), "no-config.json")
	cmd := newRootCmd(func(k string) string {
		if v, ok := env[k]; ok || k != EnvConfig {
			return v
		}
		return noConfig
	})
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(input))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// offlineServer returns the URL of a server that fails the test when it is
// called at all: for checks that must happen before any request.
func offlineServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s: validation should have failed first", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
