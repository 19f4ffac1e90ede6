package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A key file that is not 64 hex characters is refused, saying what it
// must hold and never quoting what it holds.
func TestLoadKeyFileRefuses(t *testing.T) {
	good := strings.Repeat("0f", keySize)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "found 0 characters"},
		{"too short", good[:62], "found 62 characters"},
		{"too long", good + "ab", "found 66 characters"},
		{"not hex", strings.Repeat("zq", keySize), "not valid hex"},
		{"one bad character", good[:63] + "g", "not valid hex"},
		{"binary", string(bytes.Repeat([]byte{0x9c}, 32)), "found 32 characters"},
		{"far too large", strings.Repeat("a", 4096+10), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache.key")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := loadKeyFile(path)
			if s != nil || err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("loadKeyFile: %v (want an error saying %q)", err, tc.want)
			}
			if len(tc.data) >= 8 && strings.Contains(err.Error(), tc.data[:8]) {
				t.Fatalf("the error quotes the file: %v", err)
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		if _, err := loadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("loadKeyFile: %v", err)
		}
	})
	t.Run("good, with whitespace", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.key")
		if err := os.WriteFile(path, []byte("\n "+strings.ToUpper(good)+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadKeyFile(path); err != nil {
			t.Fatal(err)
		}
	})
}
