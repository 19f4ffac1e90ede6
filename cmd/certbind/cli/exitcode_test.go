package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes provokes each class of error against the real suite and
// checks the exit status the command ends with.
func TestExitCodes(t *testing.T) {
	account, other := newAccount(), newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	deployTo(t, account, "production", "production", oneRouteConfig)
	waitReferences(t, account, c.GetId(), 1)
	out := mustRun(t, realEnv(t), "--output", "json", "api-key", "create", "--account", other)
	var otherKey struct{ Key string }
	if err := json.Unmarshal([]byte(out), &otherKey); err != nil {
		t.Fatal(err)
	}
	// A suite that has stopped: its address refuses connections.
	stoppedURL, stop, err := runSuite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stop()

	in := []string{"--account", account, "--project", "shop"}
	with := func(args ...string) []string { return append(args, in...) }
	real, stopped := realEnv(t), map[string]string{EnvAPIURL: stoppedURL, EnvAPIKey: adminKey}
	keyed := func(key string) map[string]string {
		return map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: key}
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"unknown flag", real, with("mtls-certificate", "list", "--acount", "x"), ExitUsage},
		{"unknown command", real, []string{"mtls-certificate", "lst"}, ExitUsage},
		{"unknown top-level command", real, []string{"mtls-certificat"}, ExitUsage},
		{"malformed flag", real, with("mtls-certificate", "list", "--state", "gone"), ExitUsage},
		{"stray argument", real, with("mtls-certificate", "list", "extra"), ExitUsage},
		{"missing account", real, []string{"mtls-certificate", "list", "--project", "shop"}, ExitUsage},
		{"not found by id", real, with("mtls-certificate", "describe", "--cert-id", "crt_aaaaaaaaaaaaaaaaaaaaaaaa"), ExitNotFound},
		{"not found by name", real, with("mtls-certificate", "describe", "--name", "noSuchCert"), ExitNotFound},
		{"deployment not found", real, with("deployment", "describe", "--environment", "staging"), ExitNotFound},
		{"referenced", real, with("mtls-certificate", "delete", "--cert-id", c.GetId()), ExitRefused},
		{"name taken", real, with("mtls-certificate", "create", "--cert", writeFile(t, t.TempDir(), "c.pem", string(c.leaf.CertPEM)),
			"--key", writeFile(t, t.TempDir(), "c.key", string(c.leaf.KeyPEM)), "--name", "myBackendCert", "--environment-type", "production"), ExitRefused},
		{"unknown key", keyed("cbk_notakey"), with("mtls-certificate", "list"), ExitNotAllowed},
		{"another account's key", keyed(otherKey.Key), with("mtls-certificate", "list"), ExitNotAllowed},
		{"no key", map[string]string{EnvAPIURL: sharedSuiteURL(t)}, with("mtls-certificate", "list"), ExitNotAllowed},
		{"suite stopped", stopped, with("mtls-certificate", "list"), ExitUnavailable},
		{"missing file", real, with("mtls-certificate", "create", "--cert", filepath.Join(t.TempDir(), "none.pem"),
			"--key", filepath.Join(t.TempDir(), "none.key"), "--name", "otherCert", "--environment-type", "production"), ExitUsage},
		{"deploy: malformed --var", real, with("deploy", "--environment", "production", "--environment-type", "production",
			"--config", writeFile(t, t.TempDir(), "g.json", `{"routes": []}`), "--var", "NO_EQUALS_SIGN"), ExitUsage},
		{"deploy: config file missing", real, with("deploy", "--environment", "production", "--environment-type", "production",
			"--config", filepath.Join(t.TempDir(), "none.json")), ExitUsage},
		{"deploy: no --config", real, with("deploy", "--environment", "production", "--environment-type", "production"), ExitUsage},
		{"client certificate uploaded as a CA", real, with("mtls-certificate", "create", "--ca", "--cert", writeFile(t, t.TempDir(), "ca.pem", string(c.leaf.CertPEM)),
			"--name", "otherCert", "--environment-type", "production"), ExitOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, tt.env, tt.args...)
			if got := ExitCode(err); got != tt.want {
				t.Errorf("certbind %s: exit status %d, want %d (error: %v)", strings.Join(tt.args, " "), got, tt.want, err)
			}
		})
	}
}

// TestExitCodesOfTheBinary checks that the process itself ends with the
// status: main passes the error through ExitCode.
func TestExitCodesOfTheBinary(t *testing.T) {
	account := newAccount()
	env := realEnv(t)
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"mtls-certificate", "list", "--account", account, "--project", "shop"}, ExitOK},
		{[]string{"mtls-certificate", "lst"}, ExitUsage},
		{[]string{"mtls-certificate", "describe", "--account", account, "--project", "shop", "--name", "noSuchCert"}, ExitNotFound},
	} {
		_, stderr, code := runBinary(t, env, tt.args...)
		if code != tt.want {
			t.Errorf("certbind %s: exit status %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.want, stderr)
		}
	}
}

// TestHelpListsExitCodes checks that "certbind --help" documents every
// exit status.
func TestHelpListsExitCodes(t *testing.T) {
	stdout, _, err := runCLI(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit status:", "  1  any other error", "  2  usage", "  3  not found", "  4  refused by a precondition",
		"  5  not authenticated", "  6  unavailable"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("certbind --help lacks %q", want)
		}
	}
}
