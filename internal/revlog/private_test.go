package revlog

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestOpenRefusesSharedFiles opens a store whose file others may read: it holds the sealed keys and the API key hashes, so Open
// refuses it and says which chmod fixes it, changing nothing.
func TestOpenRefusesSharedFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	log := Log{Log: []byte("log"), Meta: []byte("meta"), Retention: 10}
	tests := []struct {
		name            string
		dirMode, dbMode os.FileMode // dbMode 0: no file yet
		want            string      // "" when Open must succeed
	}{
		{"private", 0o700, 0o600, ""},
		{"new file in a private dir", 0o700, 0, ""},
		{"file readable by others", 0o700, 0o644, "chmod 600"},
		{"file readable by the group", 0o700, 0o640, "chmod 600"},
		{"in a directory others may read", 0o755, 0o600, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "s.db")
			if tt.dbMode != 0 {
				db, err := Open(path, "tester", time.Second, 1, log)
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
				if err := os.Chmod(path, tt.dbMode); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, "tester", time.Second, 1, log)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				db.Close()
				return
			}
			if err == nil {
				db.Close()
				t.Fatalf("Open accepted a store others may read")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "group or others") {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != tt.dbMode {
				t.Errorf("a refused Open changed the file (stat: %v, %v)", info, err)
			}
		})
	}
}
