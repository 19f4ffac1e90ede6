package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAPIKeyCommands issues, lists and revokes keys through the CLI against
// the real suite, as the README shows.
func TestAPIKeyCommands(t *testing.T) {
	env := startSuite(t)
	out := mustRun(t, env, "api-key", "create", "--account", "acme", "--name", "ci", "--expires-in", "90d", "--output", "json")
	var ci struct{ Key, ID, Name, ExpiresAt string }
	if err := json.Unmarshal([]byte(out), &ci); err != nil || ci.Key == "" || ci.Name != "ci" || ci.ExpiresAt == "" {
		t.Fatalf("create --output json: %v\n%s", err, out)
	}
	out = mustRun(t, env, "api-key", "create", "--account", "acme", "--role", "edge", "--project", "shop", "--environment-type", "production", "--name", "edge-eu-1")
	if !strings.Contains(out, "it does not expire") || !strings.Contains(out, "cbk_") {
		t.Fatalf("create table output:\n%s", out)
	}
	mustRun(t, env, "api-key", "create", "--account", "globex", "--name", "other")

	// The acme key is used once, so it has a last use.
	ciEnv := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: ci.Key}
	mustRun(t, ciEnv, "mtls-certificate", "list", "--account", "acme", "--project", "shop")

	table := mustRun(t, env, "api-key", "list", "--account", "acme")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST USED") ||
		!strings.Contains(table, "project shop, types production") || strings.Contains(table, "globex") {
		t.Fatalf("list --account acme:\n%s", table)
	}
	var ciLine string
	for _, l := range lines {
		if strings.Contains(l, ci.ID) {
			ciLine = l
		}
	}
	if f := strings.Fields(ciLine); len(f) < 9 || f[1] != "ci" || !strings.Contains(ciLine, " active ") || strings.Count(ciLine, "T") < 3 || strings.HasSuffix(ciLine, "-") {
		t.Fatalf("the ci key's row %q, want its name, active, an expiry and a last use", ciLine)
	}
	if strings.Contains(table, ci.Key) {
		t.Fatalf("the listing shows a secret:\n%s", table)
	}
	// The ci key (an account key) lists its own account's keys only.
	own := mustRun(t, ciEnv, "api-key", "list", "--output", "json")
	var keys []map[string]any
	if err := json.Unmarshal([]byte(own), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("the ci key's list: %v\n%s", err, own)
	}

	if out := mustRun(t, env, "api-key", "revoke", "--id", ci.ID); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke:\n%s", out)
	}
	_, stderr, err := runCLI(t, ciEnv, "mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err == nil || !strings.Contains(err.Error()+stderr, "expired or was revoked") {
		t.Fatalf("a revoked key: %v\n%s", err, stderr)
	}
	_, _, err = runCLI(t, env, "api-key", "revoke", "--id", "key_doesnotexist")
	if err == nil || !strings.Contains(err.Error(), "no API key with that id") {
		t.Fatalf("revoke of an unknown id: %v", err)
	}
}

// TestAPIKeyFlagsChecked refuses bad flags before any request.
func TestAPIKeyFlagsChecked(t *testing.T) {
	env := map[string]string{EnvAPIURL: offlineServer(t), EnvAPIKey: "k"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"api-key", "create", "--account", "acme", "--expires-in", "3 months"}, `"90d", "12h"`},
		{[]string{"api-key", "create", "--account", "acme", "--expires-in", "0d"}, "more than zero"},
		{[]string{"api-key", "create", "--account", "acme", "--name", strings.Repeat("x", 65)}, "at most 64"},
		{[]string{"api-key", "revoke"}, "--id is required"},
		{[]string{"api-key", "list", "--account", "Not An Account"}, "--account"},
	} {
		_, _, err := runCLI(t, env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("certbind %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
