package cli

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestAPIErrors provokes the real suite's refusals through the CLI: an
// unknown key, an account key outside its account, and the delete of a
// certificate a deployment uses. Each is an *APIError with the server's
// message, HTTP status and gRPC code, and a hint where the CLI adds one.
func TestAPIErrors(t *testing.T) {
	account, other := newAccount(), newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	prod := deployTo(t, account, "production", "production", oneRouteConfig)
	waitReferences(t, account, c.GetId(), 1)
	out := mustRun(t, realEnv(t), "--output", "json", "api-key", "create", "--account", other)
	var otherKey struct{ Key string }
	if err := json.Unmarshal([]byte(out), &otherKey); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		key        string
		wantErr    []string
		wantStatus int
		wantCode   int
	}{
		{"unauthenticated", "cbk_notakey", []string{"check --api-key or CERTBIND_API_KEY"}, 401, 16},
		{"permission denied", otherKey.Key, []string{account, "not allowed"}, 403, 7},
		{"failed precondition", adminKey, []string{"referenced by", prod}, 409, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: tt.key},
				"mtls-certificate", "delete", "--account", account, "--project", "shop", "--cert-id", c.GetId())
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatus != tt.wantStatus || apiErr.Code != tt.wantCode {
				t.Errorf("error %#v, want *APIError with HTTP %d, code %d", err, tt.wantStatus, tt.wantCode)
			}
		})
	}
	if _, err := adminClient(t).GetCertificate(t.Context(), account, "shop", c.GetId()); err != nil {
		t.Errorf("the certificate is gone after refused deletes: %v", err)
	}
}

// TestAPIErrorNotJSON is a proxy in front of the server answering 502 with
// an HTML page, which certbind itself never does.
func TestAPIErrorNotJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>Bad Gateway</html>"))
	}))
	defer srv.Close()
	_, _, err := runCLI(t, map[string]string{EnvAPIURL: srv.URL, EnvAPIKey: testKey},
		"mtls-certificate", "delete", "--account", "acme", "--project", "shop", "--cert-id", "crt_000000000000000000000001")
	for _, want := range []string{"answered 502 Bad Gateway", "<html>Bad Gateway</html>"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusBadGateway || apiErr.Code != 0 {
		t.Errorf("error %#v, want *APIError with HTTP 502, code 0", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	_, _, err = runCLI(t, map[string]string{EnvAPIKey: testKey}, "--api-url", url,
		"mtls-certificate", "list", "--account", "acme", "--project", "shop")
	want := "cannot reach certbind at " + url + ": "
	if err == nil || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), `(is "certbind dev" running? set --api-url or CERTBIND_API_URL)`) {
		t.Fatalf("err = %v, want %q and a hint", err, want)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, _, err := runCLI(t, map[string]string{EnvAPIURL: srv.URL, EnvAPIKey: testKey}, "--timeout", "100ms",
		"mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err == nil || !strings.Contains(err.Error(), "did not answer within 100ms") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// TestFlagsBeatEnvironment checks that --api-url and --api-key override
// CERTBIND_API_URL and CERTBIND_API_KEY, which otherwise apply: two
// recorders in front of the real suite, and an environment key the server
// refuses.
func TestFlagsBeatEnvironment(t *testing.T) {
	envSrv, flagSrv := newRecorder(t), newRecorder(t)
	list := []string{"mtls-certificate", "list", "--account", newAccount(), "--project", "shop"}

	if _, _, err := runCLI(t, envSrv.env(), list...); err != nil {
		t.Fatal(err)
	}
	if r := envSrv.requests(); len(r) != 1 || r[0].Auth != "Bearer "+adminKey {
		t.Fatalf("environment URL got %+v, want one request with the environment's key", r)
	}

	env := map[string]string{EnvAPIURL: envSrv.srv.URL, EnvAPIKey: "cbk_notakey"}
	_, _, err := runCLI(t, env, append([]string{"--api-url", flagSrv.srv.URL, "--api-key", adminKey}, list...)...)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(envSrv.requests()); n != 1 {
		t.Errorf("environment URL got a request although --api-url was given")
	}
	if r := flagSrv.requests(); len(r) != 1 || r[0].Auth != "Bearer "+adminKey || r[0].Status != 200 {
		t.Errorf("flag URL got %+v, want one request with the flag's key, answered 200", r)
	}
}

func TestHelpDoesNotShowEnvironmentKey(t *testing.T) {
	stdout, _, err := runCLI(t, map[string]string{EnvAPIKey: "super-secret", EnvKeyPassphrase: "pass-secret"},
		"mtls-certificate", "create", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "super-secret") || strings.Contains(stdout, "pass-secret") {
		t.Errorf("help shows a secret from the environment:\n%s", stdout)
	}
}

func TestHelpEverywhere(t *testing.T) {
	var check func(c *cobra.Command)
	check = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			check(sub)
		}
	}
	check(newRootCmd(func(string) string { return "" }))
}

// TestAPIKeyCreate issues keys on the real suite: the secret is printed on
// a line of its own, once, and works.
func TestAPIKeyCreate(t *testing.T) {
	account := newAccount()
	rec := newRecorder(t)
	stdout, _, err := runCLI(t, rec.env(), "api-key", "create", "--account", account)
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "cbk_") {
			key = l
		}
	}
	if key == "" {
		t.Fatalf("key not on a line of its own:\n%s", stdout)
	}
	for _, want := range []string{"shown only once", "export CERTBIND_API_KEY=" + key, "role account"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	keyEnv := map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: key}
	if _, _, err := runCLI(t, keyEnv, "mtls-certificate", "list", "--account", account, "--project", "shop"); err != nil {
		t.Errorf("the printed key does not work: %v", err)
	}

	stdout, _, err = runCLI(t, rec.env(), "--output", "json", "api-key", "create", "--account", account, "--role", "edge",
		"--project", "shop", "--environment-type", "production")
	if err != nil {
		t.Fatal(err)
	}
	var edge struct{ Key, Role, Account string }
	if err := json.Unmarshal([]byte(stdout), &edge); err != nil || !strings.HasPrefix(edge.Key, "cbk_") || edge.Role != "edge" || edge.Account != account {
		t.Errorf("JSON = %s (%v)", stdout, err)
	}
	if r := rec.requests(); r[len(r)-1].Path != "/v1/accounts/"+account+"/api-keys" {
		t.Errorf("path = %s", r[len(r)-1].Path)
	}
}
