package cli

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// listDeployments is the account's deployments of project shop on the
// shared suite.
func listDeployments(t *testing.T, account string) []*deploytrackerv1.Deployment {
	t.Helper()
	deps, err := adminClient(t).ListDeployments(t.Context(), &deploytrackerv1.ListDeploymentsRequest{Account: account, Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	return deps.GetDeployments()
}

// TestDeployDryRun runs `deploy --dry-run` against the real suite: it
// sends validateOnly, prints the plan with the certificates it would
// reference, and leaves the deployments exactly as they were.
func TestDeployDryRun(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", gatewayJSON)
	account := newAccount()
	certs := deployCerts(t, account)
	rec := newRecorder(t)
	args := deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert", "--dry-run")

	stdout, _, err := runCLI(t, rec.env(), args...)
	if err != nil {
		t.Fatal(err)
	}
	if reqs := rec.requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"validateOnly":true`) {
		t.Fatalf("requests = %+v, want one deploy with validateOnly", reqs)
	}
	for _, want := range []string{
		"Dry run: every check of a deploy passed; nothing was deployed or recorded.",
		"Deployment:  new (the first deploy of environment production)",
		"/" + account + "/shop/production",
		"Variables:   BACKEND_MTLS_CERT",
		"Certificates it would reference (each is active and allowed in production):",
		"myBackendCert  " + certs[0].GetId() + "  client  /api/*       mtlsCertificate",
		"backendCa      " + certs[1].GetId() + "  ca      /api/*       caCertificate",
		"run the same command without --dry-run",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, stdout)
		}
	}
	if deps := listDeployments(t, account); len(deps) != 0 {
		t.Fatalf("a dry run left deployments: %v", deps)
	}

	// Over a deployment: it names it and the generation a deploy would
	// make, and changes nothing.
	mustRun(t, realEnv(t), deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert")...)
	before := listDeployments(t, account)
	stdout, _, err = runCLI(t, realEnv(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	if want := before[0].GetId() + ", generation 2 would replace generation 1"; !strings.Contains(stdout, want) {
		t.Errorf("dry run output lacks %q:\n%s", want, stdout)
	}
	jsonOut, _, err := runCLI(t, realEnv(t), append(args, "--output", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	plan := &deploytrackerv1.Deployment{}
	if err := protojson.Unmarshal([]byte(jsonOut), plan); err != nil {
		t.Fatalf("JSON output is not a Deployment: %v\n%s", err, jsonOut)
	}
	if plan.GetId() != before[0].GetId() || plan.GetGeneration() != 2 || plan.GetRevision() != 0 || len(plan.GetReferences()) != 3 {
		t.Errorf("JSON plan = %v", plan)
	}
	if after := listDeployments(t, account); len(after) != 1 || !proto.Equal(after[0], before[0]) {
		t.Errorf("after dry runs the deployments are %v, want %v", after, before)
	}
}

// TestDeployDryRunRefusesAsDeployDoes checks that a dry run fails with the
// very error of a real deploy, whether the CLI or the server finds the
// problem, and that a disabled certificate is refused.
func TestDeployDryRunRefusesAsDeployDoes(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", gatewayJSON)
	account := newAccount()
	certs := deployCerts(t, account)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unset variable", deployArgsIn(account, config), "BACKEND_MTLS_CERT"},
		{"unknown certificate", deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=noSuchCert"), `no certificate named "noSuchCert"`},
		{"CA as client certificate", deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=backendCa"), "is a CA certificate"},
		{"type not allowed", []string{"deploy", "--account", account, "--project", "shop", "--environment", "dev",
			"--environment-type", "development", "--config", config, "--var", "BACKEND_MTLS_CERT=myBackendCert"}, "not allowed in development"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, dryErr := runCLI(t, realEnv(t), append(tt.args, "--dry-run")...)
			_, _, realErr := runCLI(t, realEnv(t), tt.args...)
			if dryErr == nil || !strings.Contains(dryErr.Error(), tt.want) {
				t.Fatalf("dry run: %v, want an error with %q", dryErr, tt.want)
			}
			if realErr == nil || dryErr.Error() != realErr.Error() {
				t.Errorf("dry run error\n%v\ndeploy error\n%v", dryErr, realErr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q on error", stdout)
			}
		})
	}

	mustRun(t, realEnv(t), "mtls-certificate", "disable", "--account", account, "--project", "shop", "--cert-id", certs[0].GetId())
	_, _, err := runCLI(t, realEnv(t), deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert", "--dry-run")...)
	if err == nil || !strings.Contains(err.Error(), `certificate "myBackendCert" is disabled`) {
		t.Errorf("dry run with a disabled certificate: %v", err)
	}
	if deps := listDeployments(t, account); len(deps) != 0 {
		t.Errorf("refused runs left deployments: %v", deps)
	}
}

// TestDeployHelpPromisesWhatDeployPrints deploys the config the help's
// examples describe (routes /api/* and /users/{id}) and checks that what
// the help says deploy prints is there.
func TestDeployHelpPromisesWhatDeployPrints(t *testing.T) {
	help, _, err := runCLI(t, nil, "deploy", "--help")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", gatewayJSON)
	account := newAccount()
	deployCerts(t, account)
	out := mustRun(t, realEnv(t), deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert")...)
	promises := []struct{ inHelp, inOutput string }{
		{"the curl line that deploy prints", "curl "},
		{"URL", "URL:"},
		{"generation", "Generation:"},
		{"variables' names", "Variables:   BACKEND_MTLS_CERT"},
	}
	for _, p := range promises {
		if strings.Contains(help, p.inHelp) && !strings.Contains(out, p.inOutput) {
			t.Errorf("deploy --help promises %q, but deploy printed no %q:\n%s", p.inHelp, p.inOutput, out)
		}
	}
	if strings.Contains(help, "curl line") && !strings.Contains(help, "When a route takes GET") {
		t.Error("deploy --help mentions a curl line without saying when deploy prints one")
	}
}
