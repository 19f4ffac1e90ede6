package cli

import (
	"strings"
	"testing"
)

// TestAllMissingFlagsAtOnce runs commands with required flags left out and
// checks that one error names every one of them, with its help, before any
// request reaches the real suite.
func TestAllMissingFlagsAtOnce(t *testing.T) {
	rec := newRecorder(t)
	tests := []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"deploy"}, []string{
			"--account, --config, --environment, --environment-type and --project are required (see \"certbind deploy --help\"):",
			"\n  --config            gateway config to deploy, e.g. gateway.json",
			"\n  --environment-type  type of the environment: development, preview or production",
		}, []string{"(required"}},
		{[]string{"deploy", "--account", "acme", "--project", "shop", "--config", "gateway.json"}, []string{
			"--environment and --environment-type are required",
		}, []string{"--config", "--account"}},
		{[]string{"mtls-certificate", "create", "--cert", "c.pem", "--key", "k.pem"}, []string{
			"--account, --environment-type, --name and --project are required",
			"\n  --environment-type  environment type that may use the certificate: development, preview or production (repeat or separate with commas)",
		}, nil},
		{[]string{"mtls-certificate", "list", "--account", "acme"}, []string{
			"--project is required: project within the account (or CERTBIND_PROJECT or a profile), e.g. shop (see \"certbind mtls-certificate list --help\")",
		}, nil},
		{[]string{"api-key", "revoke"}, []string{"--id is required"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			rec.reset()
			_, _, err := runCLI(t, rec.env(), tt.args...)
			if ExitCode(err) != ExitUsage {
				t.Fatalf("err = %v (exit status %d), want a usage error", err, ExitCode(err))
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			for _, not := range tt.notWant {
				if strings.Contains(err.Error(), not) {
					t.Errorf("error has %q:\n%v", not, err)
				}
			}
			if reqs := rec.requests(); len(reqs) != 0 {
				t.Errorf("%d requests sent before the flags were checked", len(reqs))
			}
		})
	}
}

// TestSuggestionsAtEveryLevel mistypes a command at each level of the tree.
func TestSuggestionsAtEveryLevel(t *testing.T) {
	env := map[string]string{EnvAPIURL: offlineServer(t), EnvAPIKey: testKey}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"mtls-certificat"}, `unknown command "mtls-certificat" for "certbind"; did you mean "mtls-certificate"?`},
		{[]string{"deploymnt"}, `did you mean "deployment"?`},
		{[]string{"mtls-certificate", "lst"}, `unknown command "lst" for "certbind mtls-certificate"; did you mean "list"?`},
		{[]string{"mtls-certificate", "describ"}, `did you mean "describe"?`},
		{[]string{"deployment", "lst"}, `did you mean "list"?`},
		{[]string{"api-key", "revok"}, `did you mean "revoke"?`},
		{[]string{"admin", "verfy"}, `did you mean "verify"?`},
	} {
		_, _, err := runCLI(t, env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || ExitCode(err) != ExitUsage {
			t.Errorf("certbind %s: %v (exit status %d), want %q and status 2", strings.Join(tt.args, " "), err, ExitCode(err), tt.want)
		}
	}
}

// TestListAliases lists through "ls" against the real suite.
func TestListAliases(t *testing.T) {
	account := newAccount()
	createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})
	deployTo(t, account, "production", "production", oneRouteConfig)
	in := []string{"--account", account, "--project", "shop"}
	if out := mustRun(t, realEnv(t), append([]string{"mtls-certificate", "ls"}, in...)...); !strings.Contains(out, "myBackendCert") {
		t.Errorf("mtls-certificate ls:\n%s", out)
	}
	if out := mustRun(t, realEnv(t), append([]string{"deployments", "ls"}, in...)...); !strings.Contains(out, "production") {
		t.Errorf("deployments ls:\n%s", out)
	}
}
