package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes cf as a 0600 config file in a temp dir and returns
// its path.
func writeConfig(t *testing.T, cf string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseConfigFileRefuses(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "not a config file"},
		{"not JSON", `profiles: {}`, "not a config file"},
		{"array", `[]`, "not a config file"},
		{"two values", `{"profiles": {}} {}`, "more than one JSON value"},
		{"unknown top-level key", `{"profile": {}}`, `unknown field "profile"`},
		{"misspelt profile key", `{"profiles": {"acme": {"acount": "acme"}}}`, `unknown field "acount"`},
		{"profile name with capitals", `{"profiles": {"Acme": {}}}`, `profile name "Acme" is not valid`},
		{"empty profile name", `{"profiles": {"": {}}}`, `profile name "" is not valid`},
		{"profile name with a control character", `{"profiles": {"a\u0007": {}}}`, `is not valid`},
		{"URL without scheme", `{"profiles": {"acme": {"api-url": "certbind.example.com"}}}`, `profile "acme": api-url: "certbind.example.com" is not an http:// or https:// URL`},
		{"URL with query", `{"profiles": {"acme": {"api-url": "http://h/?x=1"}}}`, "must not have a query"},
		{"bad account", `{"profiles": {"acme": {"account": "Not An Account"}}}`, `profile "acme": account:`},
		{"bad project", `{"profiles": {"acme": {"project": "shop/x"}}}`, `profile "acme": project:`},
		{"key and command", `{"profiles": {"acme": {"api-key": "k", "api-key-command": "pass x"}}}`, "both api-key and api-key-command"},
		{"key with space", `{"profiles": {"acme": {"api-key": "k k"}}}`, "white space"},
		{"wrong type", `{"profiles": {"acme": {"account": 7}}}`, "not a config file"},
		{"unknown default", `{"default-profile": "prod", "profiles": {"acme": {}}}`, `default-profile "prod" is not one of the profiles (acme)`},
		{"huge", `{"profiles": {}}` + strings.Repeat(" ", maxConfigFileBytes), "over 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfigFile([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfigFile(%.40q) = %v, want an error containing %q", tt.data, err, tt.want)
			}
		})
	}
}

func TestParseConfigFileAccepts(t *testing.T) {
	cf, err := parseConfigFile([]byte(`{"default-profile": "acme", "profiles": {
		"acme": {"api-url": "https://certbind.example.com", "account": "acme", "project": "shop", "api-key-command": "pass show x"},
		"ci-2": {"api-key": "cbk_x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cf.DefaultProfile != "acme" || cf.Profiles["acme"].Project != "shop" || cf.Profiles["ci-2"].APIKey != "cbk_x" {
		t.Errorf("parsed %+v", cf)
	}
}

func FuzzParseConfigFile(f *testing.F) {
	f.Add([]byte(`{"default-profile": "acme", "profiles": {"acme": {"api-url": "http://127.0.0.1:8080", "account": "acme", "project": "shop", "api-key": "k"}}}`))
	f.Add([]byte(`{"profiles": {"b": {"api-key-command": "pass show certbind"}}}`))
	f.Add([]byte(`{"profiles": {"Acme": {}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := parseConfigFile(data)
		if err != nil {
			return
		}
		// What was accepted is written back as the file, and reads the same.
		out, err := json.Marshal(cf)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseConfigFile(out)
		if err != nil {
			t.Fatalf("a config accepted and written back is refused: %v\n%s", err, out)
		}
		if len(again.Profiles) != len(cf.Profiles) || again.DefaultProfile != cf.DefaultProfile {
			t.Fatalf("written back as %s, read back as %+v", out, again)
		}
		for name, p := range cf.Profiles {
			if again.Profiles[name] != p {
				t.Fatalf("profile %q changed from %+v to %+v", name, p, again.Profiles[name])
			}
			if checkProfileName(name) != nil {
				t.Fatalf("profile name %q accepted", name)
			}
		}
	})
}

// TestDefaultsPrecedence checks flag > environment > profile for the API
// URL, the account and the project against the real suite: each source
// points at a recorder of its own and an account of its own, and the
// request shows which one won.
func TestDefaultsPrecedence(t *testing.T) {
	prof, env, flag, def := newRecorder(t), newRecorder(t), newRecorder(t), newRecorder(t)
	profAcct, envAcct, flagAcct, defAcct := newAccount(), newAccount(), newAccount(), newAccount()
	cfg := writeConfig(t, `{"default-profile": "fallback", "profiles": {
		"acme": {"api-url": "`+prof.srv.URL+`", "account": "`+profAcct+`", "project": "shop", "api-key": "`+adminKey+`"},
		"other": {"api-url": "`+env.srv.URL+`", "account": "`+envAcct+`", "project": "shop", "api-key": "`+adminKey+`"},
		"fallback": {"api-url": "`+def.srv.URL+`", "account": "`+defAcct+`", "project": "shop", "api-key": "`+adminKey+`"}}}`)
	tests := []struct {
		name        string
		env         map[string]string
		flags       []string
		wantRec     *recorder
		wantAccount string
		wantProject string
	}{
		{"default profile", map[string]string{}, nil, def, defAcct, "shop"},
		{"profile from the environment", map[string]string{EnvProfile: "acme"}, nil, prof, profAcct, "shop"},
		{"--profile beats the environment", map[string]string{EnvProfile: "other"}, []string{"--profile", "acme"}, prof, profAcct, "shop"},
		{"environment beats the profile", map[string]string{EnvProfile: "acme", EnvAPIURL: env.srv.URL, EnvAccount: envAcct, EnvProject: "web"},
			nil, env, envAcct, "web"},
		{"flags beat the environment", map[string]string{EnvProfile: "acme", EnvAPIURL: env.srv.URL, EnvAccount: envAcct, EnvProject: "web"},
			[]string{"--api-url", flag.srv.URL, "--account", flagAcct, "--project", "api"}, flag, flagAcct, "api"},
		{"mixed", map[string]string{EnvProfile: "acme", EnvProject: "web"}, []string{"--account", flagAcct}, prof, flagAcct, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*recorder{prof, env, flag, def} {
				r.reset()
			}
			tt.env[EnvConfig] = cfg
			if _, stderr, err := runCLI(t, tt.env, append([]string{"mtls-certificate", "list"}, tt.flags...)...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			reqs := tt.wantRec.requests()
			want := "/v1/accounts/" + tt.wantAccount + "/projects/" + tt.wantProject + "/mtls-certificates"
			if len(reqs) != 1 || reqs[0].Path != want || reqs[0].Auth != "Bearer "+adminKey || reqs[0].Status != 200 {
				t.Errorf("requests to the expected server = %+v, want one GET %s with the profile's key, answered 200", reqs, want)
			}
		})
	}
}

func TestConfigFileReadableByOthersRefused(t *testing.T) {
	path := writeConfig(t, `{"profiles": {"acme": {"account": "acme", "api-key": "cbk_secret"}}}`)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, map[string]string{EnvConfig: path, EnvAPIURL: offlineServer(t)}, "mtls-certificate", "list", "--profile", "acme")
	want := "config file " + path + " has mode 0640: others may read it, and it may hold an API key; run: chmod 600 " + path
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	// Commands that do not call the API do not read it.
	for _, args := range [][]string{{}, {"mtls-certificate"}, {"version"}, {"completion", "bash"}} {
		if _, _, err := runCLI(t, map[string]string{EnvConfig: path}, args...); err != nil {
			t.Errorf("certbind %s with the file refused: %v", strings.Join(args, " "), err)
		}
	}
}

func TestUnknownProfile(t *testing.T) {
	path := writeConfig(t, `{"profiles": {"acme": {}, "beta": {}}}`)
	_, _, err := runCLI(t, map[string]string{EnvConfig: path, EnvProfile: "prod"}, "mtls-certificate", "list")
	want := `profile "prod" (from env CERTBIND_PROFILE) is not in ` + path + ` (profiles: acme, beta)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	_, _, err = runCLI(t, map[string]string{}, "mtls-certificate", "list", "--profile", "prod")
	if err == nil || !strings.Contains(err.Error(), "there is no config file at") || !strings.Contains(err.Error(), "certbind config set-profile prod") {
		t.Errorf("err = %v, want one saying there is no config file and how to make the profile", err)
	}
}

// TestConfigViewShowsSourcesNotKeys checks config view's table and JSON:
// every value with its source, and no key.
func TestConfigViewShowsSourcesNotKeys(t *testing.T) {
	const key = "cbk_profilesecret0123456789"
	path := writeConfig(t, `{"profiles": {"acme": {"api-url": "https://certbind.example.com", "account": "acme", "project": "shop", "api-key": "`+key+`"}}}`)
	env := map[string]string{EnvConfig: path, EnvProfile: "acme", EnvProject: "web"}
	stdout, stderr, err := runCLI(t, env, "config", "view", "--account", "globex")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{
		{"profile", "acme", "env", EnvProfile},
		{"api-url", "https://certbind.example.com", "profile", `"acme"`},
		{"api-key", "(set,", "not", "shown)", "profile", `"acme"`},
		{"account", "globex", "flag", "--account"},
		{"project", "web", "env", EnvProject},
		{"config", "file", path},
	} {
		if !containsRow(stdout, row) {
			t.Errorf("config view lacks the row %q:\n%s", row, stdout)
		}
	}
	stdoutJSON, _, err := runCLI(t, env, "config", "view", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v settingsView
	if err := json.Unmarshal([]byte(stdoutJSON), &v); err != nil {
		t.Fatal(err)
	}
	if !v.APIKey.Set || v.APIKey.Source != `profile "acme"` || v.Account.Value != "acme" || v.Project.Source != "env "+EnvProject {
		t.Errorf("config view --output json = %+v", v)
	}
	if out := stdout + stderr + stdoutJSON; strings.Contains(out, key) {
		t.Errorf("config view printed the key:\n%s", out)
	}

	stdout, _, err = runCLI(t, map[string]string{EnvAPIKey: key}, "config", "view")
	if err != nil || !containsRow(stdout, []string{"api-key", "(set,", "not", "shown)", "env", EnvAPIKey}) || strings.Contains(stdout, key) ||
		!containsRow(stdout, []string{"api-url", DefaultAPIURL, "default"}) || !containsRow(stdout, []string{"account", "-", "not", "set"}) {
		t.Errorf("config view without a profile: %v\n%s", err, stdout)
	}
}

// containsRow reports whether a line of out has exactly the fields row.
func containsRow(out string, row []string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(row, " ") {
			return true
		}
	}
	return false
}

// TestSetProfile writes profiles with the CLI, checks the file and its
// mode, and uses them against the real suite.
func TestSetProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certbind", "config.json")
	account := newAccount()
	createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})
	env := map[string]string{EnvConfig: path}
	stdout, _, err := runCLIWithInput(t, env, adminKey+"\n", "config", "set-profile", "acme", "--api-url", sharedSuiteURL(t),
		"--account", account, "--project", "shop", "--api-key-stdin", "--default")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, adminKey) || !strings.Contains(stdout, "profile acme (the default profile) in "+path) {
		t.Errorf("set-profile printed:\n%s", stdout)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v; want 0600", err, info.Mode())
	}
	if dir, err := os.Stat(filepath.Dir(path)); err != nil || dir.Mode().Perm() != 0o700 {
		t.Errorf("config directory: %v, mode %v; want 0700", err, dir.Mode())
	}
	if out := mustRun(t, env, "mtls-certificate", "list"); !strings.Contains(out, "myBackendCert") {
		t.Errorf("list with the default profile:\n%s", out)
	}

	// Changing one value keeps the others; a command replaces the key.
	if _, _, err := runCLI(t, env, "config", "set-profile", "acme", "--project", "web", "--api-key-command", "printf %s "+adminKey); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	cf, err := parseConfigFile(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{APIURL: sharedSuiteURL(t), Account: account, Project: "web", APIKeyCommand: "printf %s " + adminKey}
	if cf.Profiles["acme"] != want || cf.DefaultProfile != "acme" {
		t.Errorf("profile = %+v, want %+v", cf.Profiles["acme"], want)
	}
	// The key printed by the command is used; the project comes from the profile.
	if out := mustRun(t, env, "mtls-certificate", "list", "--project", "shop"); !strings.Contains(out, "myBackendCert") {
		t.Errorf("list with the key from api-key-command:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "set-profile"}, "give the profile's name"},
		{[]string{"config", "set-profile", "Acme"}, `profile name "Acme" is not valid`},
		{[]string{"config", "set-profile", "acme", "--api-url", "ftp://x"}, "is not an http:// or https:// URL"},
		{[]string{"config", "set-profile", "acme", "--api-key", "k", "--api-key-command", "pass x"}, "not both"},
	} {
		_, _, err := runCLI(t, env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || ExitCode(err) != ExitUsage {
			t.Errorf("certbind %s: %v, want a usage error containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

// TestAPIKeyCommandFails checks that a failing api-key-command is reported
// with the command, never with what it printed.
func TestAPIKeyCommandFails(t *testing.T) {
	path := writeConfig(t, `{"profiles": {"acme": {"account": "acme", "project": "shop", "api-key-command": "echo half-a-secret; exit 3"}}}`)
	_, _, err := runCLI(t, map[string]string{EnvConfig: path, EnvProfile: "acme", EnvAPIURL: offlineServer(t)}, "mtls-certificate", "list")
	if err == nil || !strings.Contains(err.Error(), `api-key-command "echo half-a-secret; exit 3" failed (exit status 3)`) || ExitCode(err) != ExitNotAllowed {
		t.Errorf("err = %v (exit status %d)", err, ExitCode(err))
	}
}

// TestProfileInUserConfigDir runs the binary with only a HOME and
// XDG_CONFIG_HOME: set-profile writes the file where os.UserConfigDir says,
// and the next command finds it there.
func TestProfileInUserConfigDir(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "xdg")}
	account := newAccount()
	createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})
	_, stderr, code := runBinaryWithInput(t, env, adminKey, "config", "set-profile", "dev", "--api-url", sharedSuiteURL(t),
		"--account", account, "--project", "shop", "--api-key-stdin")
	if code != 0 {
		t.Fatalf("set-profile: exit status %d\n%s", code, stderr)
	}
	path := filepath.Join(home, "xdg", "certbind", "config.json")
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file %s: %v", path, err)
	}
	env[EnvProfile] = "dev"
	stdout, stderr, code := runBinary(t, env, "mtls-certificate", "describe", "--name", "myBackendCert")
	if code != 0 || !strings.Contains(stdout, "myBackendCert") {
		t.Errorf("describe with the profile: exit status %d\n%s%s", code, stdout, stderr)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runBinary(t, env, "mtls-certificate", "list")
	if code != ExitOther || !strings.Contains(stderr, "run: chmod 600 "+path) {
		t.Errorf("with mode 0644: exit status %d\n%s", code, stderr)
	}
}
