package cli

import (
	"strings"
	"testing"
)

// TestAdminRotateMasterKeyFlags: flags that contradict each other are a
// usage error that says what to drop, before any request is sent (the
// API URL here reaches nothing).
func TestAdminRotateMasterKeyFlags(t *testing.T) {
	env := map[string]string{EnvAPIURL: "http://127.0.0.1:1", EnvAPIKey: "k"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--status", "--no-wait"}, "--status starts nothing, so --no-wait does not apply"},
		{[]string{"--wait-timeout", "0s"}, "--wait-timeout 0s must be positive"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		_, _, err := runCLI(t, env, append([]string{"admin", "rotate-master-key"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
