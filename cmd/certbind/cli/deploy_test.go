package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// gatewayJSON is the config of DESIGN.md: one route names its certificate
// through $env(BACKEND_MTLS_CERT), the other directly.
const gatewayJSON = `{
  "routes": [
    {
      "path": "/api/*",
      "methods": ["GET", "POST"],
      "handler": {
        "export": "UrlForwardHandler",
        "options": {
          "baseUrl": "https://127.0.0.1:9443",
          "mtlsCertificate": "$env(BACKEND_MTLS_CERT)",
          "caCertificate": "backendCa"
        }
      }
    },
    {
      "path": "/users/{id}",
      "handler": {
        "export": "UrlRewriteHandler",
        "options": { "rewritePattern": "https://127.0.0.1:9443/v2/users/${params.id}", "mtlsCertificate": "myBackendCert" }
      }
    }
  ]
}`

// tableJSON adds to gatewayJSON's routes a POST-only one without a
// certificate and a literal GET one, for the curl hint.
const tableJSON = `{
  "routes": [
    {"path": "/api/*", "methods": ["GET", "POST"], "handler": {"export": "UrlForwardHandler",
      "options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "$env(BACKEND_MTLS_CERT)", "caCertificate": "backendCa"}}},
    {"path": "/users/{id}", "handler": {"export": "UrlRewriteHandler",
      "options": {"rewritePattern": "https://127.0.0.1:9443/v2/users/${params.id}", "mtlsCertificate": "myBackendCert"}}},
    {"path": "/orders", "methods": ["POST"], "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:9443"}}},
    {"path": "/health", "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "myBackendCert"}}}
  ]
}`

// deployCerts uploads the certificates gatewayJSON and tableJSON name to
// account/shop: myBackendCert (a client certificate) and backendCa.
func deployCerts(t *testing.T, account string) []uploaded {
	return createCerts(t, account,
		certSpec{name: "myBackendCert", days: 100, types: []string{"preview", "production"}},
		certSpec{name: "backendCa", days: 100, types: []string{"preview", "production"}, ca: true})
}

// deployArgsIn deploys config as account's production environment.
func deployArgsIn(account, config string, extra ...string) []string {
	return append([]string{"deploy", "--account", account, "--project", "shop", "--environment", "production",
		"--environment-type", "production", "--config", config}, extra...)
}

func deployArgs(config string, extra ...string) []string {
	return append([]string{"deploy", "--account", "acme", "--project", "shop", "--environment", "production",
		"--environment-type", "production", "--config", config}, extra...)
}

// TestDeployValidationBeforeNetwork checks that bad flags, variables and
// configs are refused, with a message naming the flag, file or spot, before
// any request is sent.
func TestDeployValidationBeforeNetwork(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", gatewayJSON)
	badJSON := writeFile(t, dir, "bad.json", `{"routes": [`)
	empty := writeFile(t, dir, "empty.json", "")
	huge := writeFile(t, dir, "huge.json", `{"routes": []}`+strings.Repeat(" ", maxConfigFile))
	missing := filepath.Join(dir, "nope.json")
	envFile := writeFile(t, dir, "prod.env", "BACKEND_MTLS_CERT=myBackendCert\n")
	badEnvFile := writeFile(t, dir, "bad.env", "# production\nBACKEND_MTLS_CERT\n")
	setVar := "--var=BACKEND_MTLS_CERT=myBackendCert"

	deploy := func(extra ...string) []string {
		return append([]string{"deploy", "--account", "acme", "--project", "shop"}, extra...)
	}
	target := func(verb string, extra ...string) []string {
		return append([]string{"deployment", verb, "--account", "acme", "--project", "shop"}, extra...)
	}

	tests := []struct {
		name    string
		args    []string
		noKey   bool
		wantErr []string
	}{
		{"deploy without environment", deploy("--environment-type", "production", "--config", config), false, []string{"--environment is required"}},
		{"deploy with uppercase environment", deploy("--environment", "Prod", "--environment-type", "production", "--config", config), false,
			[]string{`--environment: environment "Prod" is not valid: 'P' at position 1`, "lowercase letters, digits or '-'"}},
		{"deploy with underscore environment", deploy("--environment", "pr_42", "--environment-type", "preview", "--config", config), false, []string{`'_' at position 3`}},
		{"deploy with long environment", deploy("--environment", strings.Repeat("a", 64), "--environment-type", "preview", "--config", config), false, []string{"64 characters long, over the limit of 63"}},
		{"deploy without account", []string{"deploy", "--project", "shop", "--environment", "production", "--environment-type", "production", "--config", config}, false, []string{"--account is required"}},
		{"deploy without environment type", deploy("--environment", "production", "--config", config), false, []string{"--environment-type is required"}},
		{"deploy with abbreviated type", deploy("--environment", "production", "--environment-type", "prod", "--config", config), false, []string{"--environment-type:", `did you mean "production"`}},
		{"deploy with two types", deploy("--environment", "production", "--environment-type", "development,production", "--config", config), false, []string{"--environment-type:", `"development,production" is not known`}},
		{"deploy without config", deploy("--environment", "production", "--environment-type", "production"), false, []string{"--config is required"}},
		{"deploy with var without value", deployArgs(config, "--var", "BACKEND_MTLS_CERT"), false, []string{`--var "BACKEND_MTLS_CERT"`}},
		{"deploy with missing config", deployArgs(missing, setVar), false, []string{`--config: file "` + missing + `" not found`}},
		{"deploy with directory config", deployArgs(dir, setVar), false, []string{"is a directory"}},
		{"deploy with huge config", deployArgs(huge, setVar), false, []string{"over the 256 KiB limit"}},
		{"deploy with empty config", deployArgs(empty, setVar), false, []string{`--config: file "` + empty + `" is empty`}},
		{"deploy with bad JSON", deployArgs(badJSON, setVar), false, []string{`--config "` + badJSON + `"`}},
		{"deploy with unknown variable", deployArgs(config), false, []string{`--config "` + config + `"`, "BACKEND_MTLS_CERT"}},
		{"deploy with missing env file", deployArgs(config, "--env-file", missing), false, []string{`--env-file: file "` + missing + `" not found`}},
		{"deploy with bad env file", deployArgs(config, "--env-file", badEnvFile), false, []string{`--env-file "` + badEnvFile + `"`, "line 2"}},
		{"deploy with stray argument", deployArgs(config, setVar, "gateway.json"), false, []string{`unexpected argument "gateway.json"`}},
		{"deploy without api key", deployArgs(config, "--env-file", envFile), true, []string{"no API key"}},

		{"list with bad environment", target("list", "--environment", "Production"), false, []string{`--environment: environment "Production"`}},
		{"list without project", []string{"deployment", "list", "--account", "acme"}, false, []string{"--project is required"}},
		{"describe without target", target("describe"), false, []string{"give the deployment with --environment NAME or --id ID"}},
		{"describe with both", target("describe", "--environment", "production", "--id", "d1"), false, []string{"give either --environment or --id, not both"}},
		{"describe with bad environment", target("describe", "--environment", "pr 42"), false, []string{`' ' at position 3`}},
		{"delete without target", target("delete"), false, []string{"--environment NAME or --id ID"}},
		{"delete without account", []string{"deployment", "delete", "--project", "shop", "--id", "d1"}, false, []string{"--account is required"}},
		{"unknown deployment subcommand", []string{"deployment", "destroy"}, false, []string{`unknown command "destroy" for "certbind deployment"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvAPIURL: offlineServer(t), EnvAPIKey: testKey}
			if tt.noKey {
				delete(env, EnvAPIKey)
			}
			stdout, _, err := runCLI(t, env, tt.args...)
			if err == nil {
				t.Fatalf("certbind %s: no error, want one containing %q", strings.Join(tt.args, " "), tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q\nwant it to contain %q", err, want)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing on error", stdout)
			}
		})
	}
}

func TestCheckEnvironmentName(t *testing.T) {
	for _, ok := range []string{"production", "pr-42", "a", "0", strings.Repeat("a", 63)} {
		if err := checkEnvironmentName(ok); err != nil {
			t.Errorf("checkEnvironmentName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "Production", "pr_42", "pr.42", "prod uction", "é", strings.Repeat("a", 64)} {
		if err := checkEnvironmentName(bad); err == nil || !strings.Contains(err.Error(), "--environment") {
			t.Errorf("checkEnvironmentName(%q) = %v, want an error naming --environment", bad, err)
		}
	}
}

// TestDeployVariablePrecedence checks that --var overrides --env-file, that
// a later --var wins, and that the config is sent as written; the real
// server resolves $env(BACKEND_MTLS_CERT) to the certificate the winning
// value names.
func TestDeployVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", gatewayJSON)
	envFile := writeFile(t, dir, "prod.env", "# production\nBACKEND_MTLS_CERT=fromFile\nREGION=eu\n")
	account := newAccount()
	certs := deployCerts(t, account)
	rec := newRecorder(t)
	stdout, _, err := runCLI(t, rec.env(), deployArgsIn(account, config, "--env-file", envFile,
		"--var", "BACKEND_MTLS_CERT=first", "--var", "BACKEND_MTLS_CERT=myBackendCert", "--var", "TAGS=a,b", "--output", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if path := "/v1/accounts/" + account + "/projects/shop/deployments"; len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != path {
		t.Fatalf("requests = %+v, want one POST %s", reqs, path)
	}
	got := &deploytrackerv1.DeployRequest{}
	if err := protojson.Unmarshal(reqs[0].Body, got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BACKEND_MTLS_CERT": "myBackendCert", "REGION": "eu", "TAGS": "a,b"}
	if len(got.GetVariables()) != len(want) {
		t.Errorf("variables = %v, want %v", got.GetVariables(), want)
	}
	for k, v := range want {
		if got.GetVariables()[k] != v {
			t.Errorf("variable %s = %q, want %q", k, got.GetVariables()[k], v)
		}
	}
	if got.GetAccount() != account || got.GetProject() != "shop" || got.GetEnvironment() != "production" || got.GetEnvironmentType() != "production" {
		t.Errorf("deploy request = %v", got)
	}

	// The config travels as the gateway.json object itself, before $env()
	// resolution, which is the server's job.
	var body struct {
		Config struct {
			Routes []struct {
				Handler struct {
					Options map[string]string `json:"options"`
				} `json:"handler"`
			} `json:"routes"`
		} `json:"config"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Config.Routes) != 2 || body.Config.Routes[0].Handler.Options["mtlsCertificate"] != "$env(BACKEND_MTLS_CERT)" {
		t.Errorf("config sent = %s", reqs[0].Body)
	}
	d := &deploytrackerv1.Deployment{}
	if err := protojson.Unmarshal([]byte(stdout), d); err != nil {
		t.Fatal(err)
	}
	if r := d.GetRoutes(); len(r) != 2 || r[0].GetMtlsCertificateId() != certs[0].GetId() {
		t.Errorf("the server resolved the routes to %v, want myBackendCert (%s)", r, certs[0].GetId())
	}
}

func TestDeployTable(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", tableJSON)
	account := newAccount()
	deployCerts(t, account)
	stdout, _, err := runCLI(t, realEnv(t), deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert")...)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := adminClient(t).ListDeployments(t.Context(), &deploytrackerv1.ListDeploymentsRequest{Account: account, Project: "shop"})
	if err != nil || len(deps.GetDeployments()) != 1 {
		t.Fatalf("deployments: %v, %v", deps, err)
	}
	d := deps.GetDeployments()[0]
	lines := strings.Split(stdout, "\n")
	fields := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") && !strings.Contains(k, " ") {
			fields[k] = strings.TrimSpace(v)
		}
	}
	for k, want := range map[string]string{
		"ID": d.GetId(), "Environment": "production (production)", "Generation": "1",
		"URL": d.GetUrl(), "Variables": "BACKEND_MTLS_CERT",
	} {
		if fields[k] != want || want == "" {
			t.Errorf("%s = %q, want %q\n%s", k, fields[k], want, stdout)
		}
	}
	if !strings.HasSuffix(d.GetUrl(), "/"+account+"/shop/production") {
		t.Errorf("URL = %q, want it to end in the account, project and environment", d.GetUrl())
	}
	wantRows := [][]string{
		{"PATH", "METHODS", "HANDLER", "TARGET", "MTLS", "CERTIFICATE", "CA", "CERTIFICATE"},
		{"/api/*", "GET,POST", "UrlForwardHandler", "https://127.0.0.1:9443", "myBackendCert", "backendCa"},
		{"/users/{id}", "any", "UrlRewriteHandler", "https://127.0.0.1:9443/v2/users/${params.id}", "myBackendCert", "-"},
		{"/orders", "POST", "UrlForwardHandler", "https://127.0.0.1:9443", "-", "-"},
		{"/health", "any", "UrlForwardHandler", "https://127.0.0.1:9443", "myBackendCert", "-"},
	}
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "PATH ") {
			start = i
		}
	}
	if start < 0 || len(lines) < start+len(wantRows) {
		t.Fatalf("no routes table:\n%s", stdout)
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[start+i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("table row %d = %q, want %q", i, got, want)
		}
	}
	// The hint skips wildcard, parameter and POST-only routes.
	if !strings.Contains(stdout, "\n  curl "+d.GetUrl()+"/health\n") {
		t.Errorf("no curl hint for /health:\n%s", stdout)
	}
}

func TestCurlHint(t *testing.T) {
	tests := []struct {
		url    string
		routes []*deploytrackerv1.Route
		want   string
	}{
		{"http://e/x/", []*deploytrackerv1.Route{{Path: "/status"}}, "curl http://e/x/status"},
		{"http://e/x", []*deploytrackerv1.Route{{Path: "/api/*"}, {Path: "/users/{id}"}, {Path: "/v1/:id"}}, ""},
		{"http://e/x", []*deploytrackerv1.Route{{Path: "/a", Methods: []string{"DELETE"}}, {Path: "/b", Methods: []string{"POST", "GET"}}}, "curl http://e/x/b"},
		{"", []*deploytrackerv1.Route{{Path: "/status"}}, ""},
	}
	for _, tt := range tests {
		if got := curlHint(&deploytrackerv1.Deployment{Url: tt.url, Routes: tt.routes}); got != tt.want {
			t.Errorf("curlHint(%s, %v) = %q, want %q", tt.url, tt.routes, got, tt.want)
		}
	}
}

// TestDeployJSONIsBareDeployment deploys twice to the real suite: the JSON
// is the Deployment itself, and the redeploy keeps the id and bumps the
// generation.
func TestDeployJSONIsBareDeployment(t *testing.T) {
	dir := t.TempDir()
	config := writeFile(t, dir, "gateway.json", tableJSON)
	account := newAccount()
	deployCerts(t, account)
	args := deployArgsIn(account, config, "--var", "BACKEND_MTLS_CERT=myBackendCert", "--output", "json")
	first, _, err := runCLI(t, realEnv(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	var firstObj map[string]any
	if err := json.Unmarshal([]byte(first), &firstObj); err != nil || firstObj["generation"] != float64(1) {
		t.Fatalf("first deploy: %v\n%s", err, first)
	}
	stdout, _, err := runCLI(t, realEnv(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if id, _ := obj["id"].(string); id == "" || id != firstObj["id"] || obj["url"] != firstObj["url"] || obj["generation"] != float64(2) {
		t.Errorf("id, url or generation wrong (a redeploy keeps the id and bumps the generation):\n%s", stdout)
	}
	if refs, _ := obj["references"].([]any); len(refs) != 4 {
		t.Errorf("references = %v, want the 4 uses of certificates", obj["references"])
	}
	if _, ok := obj["deployment"]; ok {
		t.Error("JSON is a response wrapper, want the deployment itself")
	}
	if err := protojson.Unmarshal([]byte(stdout), &deploytrackerv1.Deployment{}); err != nil {
		t.Errorf("output is not a Deployment: %v", err)
	}
}
