package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/suite"
)

// TestEdgeKeyIsToldItsRole uses an edge key of an account on that
// account's certificates: the error says the key's role is wrong, not
// its account.
func TestEdgeKeyIsToldItsRole(t *testing.T) {
	account := newAccount()
	out := mustRun(t, realEnv(t), "--output", "json", "api-key", "create", "--account", account, "--role", "edge")
	var edgeKey struct{ Key string }
	if err := json.Unmarshal([]byte(out), &edgeKey); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: edgeKey.Key},
		"mtls-certificate", "list", "--account", account, "--project", "shop")
	if err == nil {
		t.Fatal("an edge key listed certificates")
	}
	for _, want := range []string{"edge key", "account key", "certbind api-key create --account " + account} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, wrong := range []string{"may not access account", "reaches only its own account"} {
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error %q blames the account (%q), but the account is right and the role is not", err, wrong)
		}
	}
}

// TestKeyErrorsAdviseOnce checks that an unknown key and a key of another
// account each get their advice once.
func TestKeyErrorsAdviseOnce(t *testing.T) {
	account, other := newAccount(), newAccount()
	out := mustRun(t, realEnv(t), "--output", "json", "api-key", "create", "--account", other)
	var otherKey struct{ Key string }
	if err := json.Unmarshal([]byte(out), &otherKey); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, key, advice string
	}{
		{"unknown key", "cbk_notakey", "CERTBIND_API_KEY"},
		{"another account's key", otherKey.Key, "own account"},
	} {
		_, _, err := runCLI(t, map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: tt.key},
			"mtls-certificate", "list", "--account", account, "--project", "shop")
		if err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		if n := strings.Count(err.Error(), tt.advice); n != 1 {
			t.Errorf("%s: error %q says %q %d times, want once", tt.name, err, tt.advice, n)
		}
	}
}

// TestAPIURLIsNotTheAPI points --api-url at the edge, at the edge's admin
// listener and at some other web server: each error says --api-url is
// not the certbind API and where the API is, instead of passing on the
// other server's answer as if the API had given it.
func TestAPIURLIsNotTheAPI(t *testing.T) {
	dir, err := os.MkdirTemp("", "certbind-cli-test-") // 0700
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		EdgeAddr: "127.0.0.1:0", EdgeAdminAddr: "127.0.0.1:0", AdminKey: adminKey})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()

	for _, tt := range []struct {
		name, url string
		want      []string
		exit      int
	}{
		// The edge is a wrong --api-url: a usage error, not "not found".
		{"edge", s.EdgeURL, []string{"--api-url " + s.EdgeURL + " is the certbind edge", "not the certbind API"}, ExitUsage},
		{"edge admin", s.EdgeAdminURL, []string{"not the certbind API", "--api-url " + s.EdgeAdminURL}, ExitNotFound},
		{"other server", other.URL, []string{"not the certbind API", "--api-url " + other.URL}, ExitNotFound},
	} {
		_, _, err := runCLI(t, map[string]string{EnvAPIURL: tt.url, EnvAPIKey: adminKey},
			"mtls-certificate", "list", "--account", "acme", "--project", "shop")
		if err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		for _, want := range append(tt.want, "http://127.0.0.1:8080") {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, want)
			}
		}
		if strings.Contains(err.Error(), "no deployment is served") {
			t.Errorf("%s: error %q passes on the edge's answer as the API's", tt.name, err)
		}
		if got := ExitCode(err); got != tt.exit {
			t.Errorf("%s: exit status %d, want %d", tt.name, got, tt.exit)
		}
	}
	// The API itself is recognised, and its own not-found answers are its.
	_, _, err = runCLI(t, map[string]string{EnvAPIURL: s.HTTPURL, EnvAPIKey: adminKey},
		"mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "crt_000000000000000000000001")
	if err == nil || strings.Contains(err.Error(), "not the certbind API") {
		t.Errorf("describe of a missing certificate on the API: %v", err)
	}
}

// TestEnvironmentTypeAdviceIsTheFullList checks the two errors that send a
// user to `mtls-certificate update --environment-type`, which replaces the
// whole list: each prints the full list to pass, as flags.
func TestEnvironmentTypeAdviceIsTheFullList(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"preview", "production"}})[0]
	config := writeFile(t, t.TempDir(), "gateway.json", oneRouteConfig)

	// A deploy to a type the certificate does not allow.
	_, _, err := runCLI(t, realEnv(t), "deploy", "--account", account, "--project", "shop", "--environment", "dev",
		"--environment-type", "development", "--config", config)
	want := "certbind mtls-certificate update --account " + account + " --project shop --name myBackendCert " +
		"--environment-type development --environment-type preview --environment-type production"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "[") {
		t.Errorf("deploy to a type not allowed: %v\nwant the full list as flags: %s", err, want)
	}

	// Taking away a type a deployment uses, and another that none does.
	deployTo(t, account, "production", "production", oneRouteConfig)
	waitReferences(t, account, c.GetId(), 1)
	_, _, err = runCLI(t, realEnv(t), "mtls-certificate", "update", "--account", account, "--project", "shop",
		"--cert-id", c.GetId(), "--environment-type", "development")
	want = "certbind mtls-certificate update --account " + account + " --project shop --cert-id " + c.GetId() +
		" --environment-type development --environment-type production"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "[") {
		t.Errorf("removing a type in use: %v\nwant the list that keeps it, as flags: %s", err, want)
	}
}
