package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDataDir(t *testing.T) {
	for _, tc := range []struct {
		mode        os.FileMode
		wantErr     string
		wantWarning bool
	}{
		{0o700, "", false},
		{0o750, "", true}, // the group may read: allowed, with a warning
		{0o710, "", true},
		{0o755, "accessible by others (mode 0755); restrict it with: chmod 700", false},
		{0o701, "accessible by others", false},
		{0o770, "writable by its group (mode 0770)", false},
		{0o730, "writable by its group", false},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		warning, err := CheckDataDir(dir)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("mode %04o: %v, want it accepted", tc.mode, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "chmod 700 "+dir)):
			t.Errorf("mode %04o: %v, want an error saying %q and the chmod", tc.mode, err, tc.wantErr)
		case (warning != "") != tc.wantWarning:
			t.Errorf("mode %04o: warning %q, want one: %v", tc.mode, warning, tc.wantWarning)
		}
	}
	if w, err := CheckDataDir(filepath.Join(t.TempDir(), "missing")); w != "" || err != nil {
		t.Errorf("a missing dir: %q %v, want it accepted (it is created 0700)", w, err)
	}
}
