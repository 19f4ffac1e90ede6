package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// withDeployments returns a fake holding a production and a preview
// deployment of acme/shop.
func withDeployments(t *testing.T) *fakeAPI {
	f := newFakeAPI(t)
	updated := timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f.deployments = []*deploytrackerv1.Deployment{
		{Id: "d1", Environment: "pr-42", EnvironmentType: "preview", Generation: 1, Url: "http://127.0.0.1:8000/acme/shop/pr-42", UpdatedAt: updated},
		{Id: "d2", Environment: "production", EnvironmentType: "production", Generation: 3, Url: "http://127.0.0.1:8000/acme/shop/production", UpdatedAt: updated,
			Routes: resolvedRoutes()[:2],
			References: []*deploytrackerv1.CertificateReference{
				{CertificateName: "myBackendCert", RoutePath: "/api/*"}, {CertificateName: "backendCa", RoutePath: "/api/*"},
				{CertificateName: "myBackendCert", RoutePath: "/users/{id}"},
			}},
	}
	return f
}

func TestDeploymentListTable(t *testing.T) {
	f := withDeployments(t)
	stdout, _, err := runCLI(t, f.env(), "deployment", "list", "--account", "acme", "--project", "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"ENVIRONMENT", "TYPE", "ID", "GENERATION", "URL", "CERTIFICATES", "UPDATED"},
		{"pr-42", "preview", "d1", "1", "http://127.0.0.1:8000/acme/shop/pr-42", "-", "2026-03-01T12:00:00Z"},
		{"production", "production", "d2", "3", "http://127.0.0.1:8000/acme/shop/production", "myBackendCert,backendCa", "2026-03-01T12:00:00Z"},
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
	f := withDeployments(t)
	stdout, _, err := runCLI(t, f.env(), "--output", "json", "deployment", "list", "--account", "acme", "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	if q := f.requests()[0].Query; q != "environment=production" {
		t.Errorf("query = %q, want environment=production", q)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 1 || list[0]["id"] != "d2" {
		t.Fatalf("want a one-element JSON array with d2: %v\n%s", err, stdout)
	}

	f = newFakeAPI(t)
	if stdout, _, err = runCLI(t, f.env(), "--output", "json", "deployment", "list", "--account", "acme", "--project", "shop"); err != nil || stdout != "[]\n" {
		t.Errorf("empty JSON list = %q, %v; want []", stdout, err)
	}
	stdout, _, err = runCLI(t, f.env(), "deployment", "list", "--account", "acme", "--project", "shop", "--environment", "qa")
	if err != nil || stdout != "no deployment for environment qa in account acme, project shop\n" {
		t.Errorf("empty table = %q, %v", stdout, err)
	}
}

func TestDeploymentDescribeByEnvironment(t *testing.T) {
	f := withDeployments(t)
	stdout, _, err := runCLI(t, f.env(), "deployment", "describe", "--account", "acme", "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, r := range f.requests() {
		calls = append(calls, r.Method+" "+r.Path+"?"+r.Query)
	}
	if want := []string{"GET " + deploysPath + "?environment=production", "GET " + deploysPath + "/d2?"}; strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests = %q, want %q", calls, want)
	}
	for _, want := range []string{"ID:", "d2", "production (production)", "Generation:", "3", "PATH", "/api/*", "backendCa"} {
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
	f := withDeployments(t)
	stdout, _, err := runCLI(t, f.env(), "deployment", "delete", "--account", "acme", "--project", "shop", "--environment", "production")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "deleted deployment d2 (environment production)\n" {
		t.Errorf("stdout = %q", stdout)
	}
	stdout, _, err = runCLI(t, f.env(), "--output", "json", "deployment", "delete", "--account", "acme", "--project", "shop", "--id", "d1")
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil || obj["id"] != "d1" {
		t.Errorf("JSON = %s (%v), want the server's answer with the id", stdout, err)
	}
	if len(f.deployments) != 0 {
		t.Errorf("deployments left: %v", f.deployments)
	}

	_, _, err = runCLI(t, f.env(), "deployment", "delete", "--account", "acme", "--project", "shop", "--environment", "production")
	if err == nil || !strings.Contains(err.Error(), `no deployment for environment "production" in account acme, project shop`) {
		t.Errorf("err = %v, want no deployment", err)
	}
	for _, r := range f.requests()[5:] {
		if r.Method != "GET" {
			t.Errorf("unexpected %s %s after a failed lookup", r.Method, r.Path)
		}
	}
}
