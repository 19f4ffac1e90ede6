package cli

import (
	"encoding/json"
	"strings"
	"testing"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// previewJSON is a config with one route that presents no certificate.
const previewJSON = `{"routes": [{"path": "/orders", "methods": ["POST"], "handler": {"export": "UrlForwardHandler",
  "options": {"baseUrl": "https://127.0.0.1:9443"}}}]}`

// withDeployments deploys, in a new account on the shared suite, a preview
// environment pr-42 without certificates, and gatewayJSON as production
// three times (generation 3). It returns the account and the deployments by
// environment, as the server lists them.
func withDeployments(t *testing.T) (string, map[string]*deploytrackerv1.Deployment) {
	t.Helper()
	account := newAccount()
	deployCerts(t, account)
	deployTo(t, account, "pr-42", "preview", previewJSON)
	for range 3 {
		deployTo(t, account, "production", "production", gatewayJSON, "--var", "BACKEND_MTLS_CERT=myBackendCert")
	}
	resp, err := adminClient(t).ListDeployments(t.Context(), &deploytrackerv1.ListDeploymentsRequest{Account: account, Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	byEnv := map[string]*deploytrackerv1.Deployment{}
	for _, d := range resp.GetDeployments() {
		byEnv[d.GetEnvironment()] = d
	}
	if len(byEnv) != 2 || byEnv["production"].GetGeneration() != 3 {
		t.Fatalf("deployments = %v, want pr-42 and production at generation 3", resp.GetDeployments())
	}
	return account, byEnv
}

func TestDeploymentListTable(t *testing.T) {
	account, deps := withDeployments(t)
	stdout, _, err := runCLI(t, realEnv(t), "deployment", "list", "--account", account, "--project", "shop")
	if err != nil {
		t.Fatal(err)
	}
	pr, prod := deps["pr-42"], deps["production"]
	want := [][]string{
		{"ENVIRONMENT", "TYPE", "ID", "GENERATION", "URL", "CERTIFICATES", "UPDATED"},
		{"pr-42", "preview", pr.GetId(), "1", pr.GetUrl(), "-", pr.GetUpdatedAt().AsTime().UTC().Format("2006-01-02T15:04:05Z")},
		{"production", "production", prod.GetId(), "3", prod.GetUrl(), "myBackendCert,backendCa", prod.GetUpdatedAt().AsTime().UTC().Format("2006-01-02T15:04:05Z")},
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("row %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestDeploymentListJSONAndFilter(t *testing.T) {
	account, deps := withDeployments(t)
	rec := newRecorder(t)
	stdout, _, err := runCLI(t, rec.env(), "--output", "json", "deployment", "list", "--account", account, "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	if q := rec.requests()[0].Query; q != "environment=production" {
		t.Errorf("query = %q, want environment=production", q)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 1 || list[0]["id"] != deps["production"].GetId() {
		t.Fatalf("want a one-element JSON array with the production deployment: %v\n%s", err, stdout)
	}

	empty := newAccount()
	if stdout, _, err = runCLI(t, realEnv(t), "--output", "json", "deployment", "list", "--account", empty, "--project", "shop"); err != nil || stdout != "[]\n" {
		t.Errorf("empty JSON list = %q, %v; want []", stdout, err)
	}
	stdout, _, err = runCLI(t, realEnv(t), "deployment", "list", "--account", account, "--project", "shop", "--environment", "qa")
	if want := "no deployment for environment qa in account " + account + ", project shop\n"; err != nil || stdout != want {
		t.Errorf("empty table = %q, %v; want %q", stdout, err, want)
	}
}

func TestDeploymentDescribeByEnvironment(t *testing.T) {
	account, deps := withDeployments(t)
	rec := newRecorder(t)
	stdout, _, err := runCLI(t, rec.env(), "deployment", "describe", "--account", account, "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, r := range rec.requests() {
		calls = append(calls, r.Method+" "+r.Path+"?"+r.Query)
	}
	path, id := "/v1/accounts/"+account+"/projects/shop/deployments", deps["production"].GetId()
	if want := []string{"GET " + path + "?environment=production", "GET " + path + "/" + id + "?"}; strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests = %q, want %q", calls, want)
	}
	for _, want := range []string{"ID:", id, "production (production)", "Generation:", "3", "PATH", "/api/*", "backendCa"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// Neither route is a literal GET path, so there is nothing to curl as is.
	if strings.Contains(stdout, "curl") {
		t.Errorf("curl hint without a literal route:\n%s", stdout)
	}
}

func TestDeploymentDelete(t *testing.T) {
	account, deps := withDeployments(t)
	stdout, _, err := runCLI(t, realEnv(t), "deployment", "delete", "--account", account, "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	if want := "deleted deployment " + deps["production"].GetId() + " (environment production)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	pr := deps["pr-42"].GetId()
	stdout, _, err = runCLI(t, realEnv(t), "--output", "json", "deployment", "delete", "--account", account, "--project", "shop", "--id", pr)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil || obj["id"] != pr {
		t.Errorf("JSON = %s (%v), want the server's answer with the id", stdout, err)
	}
	left, err := adminClient(t).ListDeployments(t.Context(), &deploytrackerv1.ListDeploymentsRequest{Account: account, Project: "shop"})
	if err != nil || len(left.GetDeployments()) != 0 {
		t.Errorf("deployments left: %v, %v", left, err)
	}

	rec := newRecorder(t)
	_, _, err = runCLI(t, rec.env(), "deployment", "delete", "--account", account, "--project", "shop", "--environment", "production")
	if err == nil || !strings.Contains(err.Error(), `no deployment for environment "production" in account `+account+`, project shop`) {
		t.Errorf("err = %v, want no deployment", err)
	}
	for _, r := range rec.requests() {
		if r.Method != "GET" {
			t.Errorf("unexpected %s %s after a failed lookup", r.Method, r.Path)
		}
	}
}
