package auth_test

import (
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/auth"
)

func TestCheckAdminKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string // "" when the key is accepted
	}{
		{"", ""}, // no admin key at all
		{strings.Repeat("k", 32), ""},
		{"cbk_" + strings.Repeat("a", 52), ""},
		{"k", "the admin key is 1 character long"},
		{"s3cr3", "the admin key is 5 characters long"},
		{strings.Repeat("k", 31), "the admin key is 31 characters long"},
		{strings.Repeat("é", 20), "the admin key is 20 characters long"}, // counted in characters, not bytes
	} {
		err := auth.CheckAdminKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckAdminKey(%d characters) = %v, want nil", len([]rune(tc.key)), err)
		case tc.want != "" && err == nil:
			t.Errorf("CheckAdminKey(%q) = nil, want it refused", tc.key)
		case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at least 32") ||
			!strings.Contains(err.Error(), "openssl rand -hex 32")):
			t.Errorf("CheckAdminKey(%q) = %q, want it to say %q, the minimum and how to make one", tc.key, err, tc.want)
		case tc.want != "" && len(tc.key) > 1 && strings.Contains(err.Error(), tc.key):
			t.Errorf("CheckAdminKey(%q) = %q, which repeats the key", tc.key, err)
		}
	}
}
