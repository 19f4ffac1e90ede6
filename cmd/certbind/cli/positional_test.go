package cli

import (
	"strings"
	"testing"
)

// TestPositionalCertificate names a certificate by an argument, by name and
// by id, against the real suite, and checks the requests the CLI sent.
func TestPositionalCertificate(t *testing.T) {
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}},
		certSpec{name: "otherCert", days: 100, types: []string{"production"}})
	id, path := certs[0].GetId(), certsPathOf(account)
	in := []string{"--account", account, "--project", "shop"}
	rec := newRecorder(t)
	for _, tt := range []struct {
		args      []string
		wantFirst string // the first request: a lookup by name, or the certificate itself
		wantOut   string
	}{
		{[]string{"mtls-certificate", "describe", "myBackendCert"}, "GET " + path + "?name=myBackendCert", id},
		{[]string{"mtls-certificate", "describe", id}, "GET " + path + "/" + id, "myBackendCert"},
		{[]string{"mtls-certificate", "disable", "myBackendCert"}, "GET " + path + "?name=myBackendCert", "disabled"},
		{[]string{"mtls-certificate", "enable", id}, "POST " + path + "/" + id + ":enable", "active"},
		{[]string{"mtls-certificate", "update", "myBackendCert", "--environment-type", "preview,production"}, "GET " + path + "?name=myBackendCert", "preview"},
	} {
		rec.reset()
		stdout, _, err := runCLI(t, rec.env(), append(tt.args, in...)...)
		if err != nil {
			t.Fatalf("certbind %s: %v", strings.Join(tt.args, " "), err)
		}
		reqs := rec.requests()
		if len(reqs) == 0 {
			t.Fatalf("certbind %s sent nothing", strings.Join(tt.args, " "))
		}
		first := reqs[0].Method + " " + reqs[0].Path
		if reqs[0].Query != "" {
			first += "?" + reqs[0].Query
		}
		if first != tt.wantFirst || !strings.Contains(stdout, tt.wantOut) {
			t.Errorf("certbind %s: first request %q, want %q; output:\n%s", strings.Join(tt.args, " "), first, tt.wantFirst, stdout)
		}
	}
	// The flags keep working, and an argument with a flag for the same
	// thing, or two arguments, are refused before any request.
	mustRun(t, realEnv(t), append([]string{"mtls-certificate", "describe", "--name", "otherCert"}, in...)...)
	rec.reset()
	for _, args := range [][]string{
		{"mtls-certificate", "describe", "myBackendCert", "--name", "otherCert"},
		{"mtls-certificate", "describe", "myBackendCert", "otherCert"},
		{"mtls-certificate", "describe", "my-backend-cert"},
	} {
		_, _, err := runCLI(t, rec.env(), append(args, in...)...)
		if ExitCode(err) != ExitUsage {
			t.Errorf("certbind %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent for refused arguments", n)
	}
}

// TestPositionalDeployment names a deployment by its environment and by
// its id as the argument, against the real suite.
func TestPositionalDeployment(t *testing.T) {
	account, deps := withDeployments(t)
	in := []string{"--account", account, "--project", "shop"}
	out := mustRun(t, realEnv(t), append([]string{"deployment", "describe", "production"}, in...)...)
	if !strings.Contains(out, deps["production"].GetId()) {
		t.Errorf("describe production:\n%s", out)
	}
	out = mustRun(t, realEnv(t), append([]string{"deployment", "describe", deps["pr-42"].GetId()}, in...)...)
	if !strings.Contains(out, "pr-42") {
		t.Errorf("describe by id:\n%s", out)
	}
	_, _, err := runCLI(t, realEnv(t), append([]string{"deployment", "describe", "staging"}, in...)...)
	if ExitCode(err) != ExitNotFound || !strings.Contains(err.Error(), `no deployment for environment "staging"`) {
		t.Errorf("describe staging: %v", err)
	}
}
