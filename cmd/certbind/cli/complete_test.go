package cli

import (
	"net"
	"strings"
	"testing"
	"time"
)

// complete runs cobra's hidden __complete command as a shell's completion
// script does, and returns the candidates and the directive line.
func complete(t *testing.T, env map[string]string, args ...string) (candidates []string, directive, stderr string) {
	t.Helper()
	stdout, stderr, err := runCLI(t, env, append([]string{"__complete"}, args...)...)
	if err != nil {
		t.Fatalf("__complete %s: %v", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1], stderr
}

// TestCompletionFromTheAPI completes certificate names and ids, deployment
// environments and environment types against the real suite.
func TestCompletionFromTheAPI(t *testing.T) {
	account, _ := withDeployments(t) // myBackendCert and backendCa; pr-42 and production
	createCerts(t, account, certSpec{name: "myOtherCert", days: 100, types: []string{"development"}})
	env := realEnv(t)
	in := []string{"--account", account, "--project", "shop"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"certificate names", env, append([]string{"mtls-certificate", "describe"}, append(in, "")...),
			[]string{"backendCa\tactive, preview,production", "myBackendCert\tactive, preview,production", "myOtherCert\tactive, development"}},
		{"names by prefix", env, append([]string{"mtls-certificate", "rm"}, append(in, "my")...),
			[]string{"myBackendCert\tactive, preview,production", "myOtherCert\tactive, development"}},
		{"--name", env, append([]string{"mtls-certificate", "disable"}, append(in, "--name", "myO")...),
			[]string{"myOtherCert\tactive, development"}},
		{"only one argument", env, append([]string{"mtls-certificate", "describe", "myBackendCert"}, append(in, "")...), nil},
		{"account and project from the environment", map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: adminKey, EnvAccount: account, EnvProject: "shop"},
			[]string{"mtls-certificate", "enable", "myO"}, []string{"myOtherCert\tactive, development"}},
		{"no required flags offered when the environment has them", map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: adminKey, EnvAccount: account, EnvProject: "shop"},
			[]string{"mtls-certificate", "enable", ""}, []string{"backendCa\tactive, preview,production", "myBackendCert\tactive, preview,production", "myOtherCert\tactive, development"}},
		{"environments", env, append([]string{"deployment", "describe"}, append(in, "")...), []string{"pr-42\tpreview", "production\tproduction"}},
		{"--environment of deploy", env, append([]string{"deploy"}, append(in, "--environment", "pr")...), []string{"pr-42\tpreview", "production\tproduction"}},
		{"environment types", env, []string{"deploy", "--environment-type", ""}, []string{"development", "preview", "production"}},
		{"output formats", env, []string{"mtls-certificate", "list", "--output", ""}, []string{"table", "json"}},
		// Without an account nothing is asked; cobra offers the required flags.
		{"no account, no request", env, []string{"mtls-certificate", "describe", ""}, []string{
			"--account\taccount that owns the certificates (required; or CERTBIND_ACCOUNT or a profile), e.g. acme",
			"--project\tproject within the account (required; or CERTBIND_PROJECT or a profile), e.g. shop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, directive, _ := complete(t, tt.env, tt.args...)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || directive != ":4" {
				t.Errorf("completions = %q, %s; want %q, :4 (no files)", got, directive, tt.want)
			}
		})
	}
	// Ids complete with the name as the description.
	got, _, _ := complete(t, env, append([]string{"mtls-certificate", "describe"}, append(in, "--cert-id", "")...)...)
	if len(got) != 3 || !strings.HasPrefix(got[0], "crt_") {
		t.Errorf("--cert-id completions = %q", got)
	}
}

// TestCompletionOfProfiles completes --profile and set-profile's argument
// from the config file.
func TestCompletionOfProfiles(t *testing.T) {
	path := writeConfig(t, `{"profiles": {"acme": {}, "beta": {}}}`)
	for _, args := range [][]string{{"mtls-certificate", "list", "--profile", ""}, {"config", "set-profile", ""}} {
		got, directive, _ := complete(t, map[string]string{EnvConfig: path}, args...)
		if strings.Join(got, " ") != "acme beta" || directive != ":4" {
			t.Errorf("__complete %s = %q, %s; want acme, beta", strings.Join(args, " "), got, directive)
		}
	}
}

// TestCompletionWithoutTheAPI completes against an address that refuses
// connections and one that never answers: no candidates, nothing printed
// by certbind, and soon.
func TestCompletionWithoutTheAPI(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, url := range []string{refusedURL, "http://" + silent.Addr().String()} {
		start := time.Now()
		got, directive, stderr := complete(t, map[string]string{EnvAPIURL: url, EnvAPIKey: adminKey},
			"mtls-certificate", "describe", "--account", "acme", "--project", "shop", "")
		if took := time.Since(start); took > completionTimeout+time.Second {
			t.Errorf("%s: completion took %s", url, took)
		}
		// cobra itself reports the directive on stderr, which shells drop.
		if len(got) != 0 || directive != ":4" || strings.TrimSpace(stderr) != "Completion ended with directive: ShellCompDirectiveNoFileComp" {
			t.Errorf("%s: completions %q, %s, stderr %q; want none, :4 and nothing from certbind", url, got, directive, stderr)
		}
	}
}
