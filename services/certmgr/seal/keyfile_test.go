package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/certbind/certbind/internal/keyfile"
)

// secretHex is a valid key whose text must never appear in an error.
const secretHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// writeKeyFile writes contents to a new file in a fresh directory.
func writeKeyFile(t *testing.T, contents string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyFile(t *testing.T) {
	for _, contents := range []string{secretHex, secretHex + "\n", "  \t" + secretHex + "\r\n\n", strings.ToUpper(secretHex)} {
		path := writeKeyFile(t, contents, 0o600)
		s, err := LoadKeyFile(path)
		if err != nil {
			t.Fatalf("LoadKeyFile(%q) = %v", contents, err)
		}
		// The key must be the one in the file, not merely some key.
		want, _ := New(mustHex(t, secretHex))
		sealed, _ := want.Seal([]byte("x"), nil)
		if _, err := s.Open(sealed, nil); err != nil {
			t.Fatalf("key loaded from %q differs from the file's key: %v", contents, err)
		}
	}
}

func TestLoadKeyFileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, contents string
		mode           os.FileMode
		wantInMsg      string
	}{
		{"world readable", secretHex, 0o644, "chmod 600"},
		{"group readable", secretHex, 0o640, "mode 0640"},
		{"group writable", secretHex, 0o620, "chmod 600"},
		{"empty", "", 0o600, "found 0 characters"},
		{"short", secretHex[:62], 0o600, "must contain 64 hex characters (a 32-byte key), found 62"},
		{"long", secretHex + "00", 0o600, "found 66"},
		{"bad hex", secretHex[:10] + "zz" + secretHex[12:], 0o600, "character 11 is not 0-9 or a-f"},
		{"inner space", secretHex[:31] + " " + secretHex[32:], 0o600, "character 32"},
		{"huge", strings.Repeat(secretHex, 100), 0o600, "larger than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && tc.mode != 0o600 {
				t.Skip("no Unix permissions on Windows")
			}
			path := writeKeyFile(t, tc.contents, tc.mode)
			_, err := LoadKeyFile(path)
			if err == nil {
				t.Fatal("LoadKeyFile succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantInMsg) || !strings.Contains(msg, path) {
				t.Errorf("error %q, want it to name the file and contain %q", msg, tc.wantInMsg)
			}
			if strings.Contains(msg, secretHex[:16]) || strings.Contains(msg, "zz") {
				t.Errorf("error %q reveals the file's contents", msg)
			}
		})
	}
}

func TestLoadKeyFileMissing(t *testing.T) {
	_, err := LoadKeyFile(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("LoadKeyFile(missing) = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestLoadKeyFileRefusesDirectory(t *testing.T) {
	if _, err := LoadKeyFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("LoadKeyFile(directory) = %v, want a not-a-regular-file error", err)
	}
}

func TestCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := CreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 2*KeySize+1 || data[len(data)-1] != '\n' {
		t.Errorf("key file holds %d bytes, want %d hex characters and a newline", len(data), 2*KeySize)
	}
	if _, err := LoadKeyFile(path); err != nil {
		t.Fatalf("LoadKeyFile after CreateKeyFile = %v", err)
	}

	// A second create must fail and leave the first key untouched.
	err = CreateKeyFile(path)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second CreateKeyFile = %v, want an error wrapping fs.ErrExist", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Fatal("second CreateKeyFile changed the existing key")
	}
}

func TestCreateKeyFileMakesDistinctKeys(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := CreateKeyFile(p); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if bytes.Equal(da, db) {
		t.Fatal("two created key files hold the same key")
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	first, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKeyFile = %v, created %v; want a new key", err, created)
	}
	second, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKeyFile = %v, created %v; want the existing key", err, created)
	}
	sealed, err := first.Seal([]byte("private key"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Open(sealed, []byte("aad")); err != nil {
		t.Fatalf("the second load has a different key: %v", err)
	}
}

func TestLoadOrCreateKeyFileKeepsRefusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on Windows")
	}
	// A key file with bad permissions must be reported, never replaced.
	path := writeKeyFile(t, secretHex, 0o644)
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadOrCreateKeyFile(0644 file) = %v, want the permission error", err)
	}
	if data, _ := os.ReadFile(path); string(data) != secretHex {
		t.Fatal("LoadOrCreateKeyFile replaced a refused key file")
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	const n = 8
	sealers := make([]*Sealer, n)
	errs := make([]error, n)
	var created sync.Map
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var c bool
			sealers[i], c, errs[i] = LoadOrCreateKeyFile(path)
			if c {
				created.Store(i, true)
			}
		})
	}
	wg.Wait()
	count := 0
	created.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Fatalf("%d callers report creating the key, want exactly 1", count)
	}
	// A caller can read the file between another's create and write; it must
	// then fail cleanly rather than invent a key. Those that succeed agree.
	var ref *Sealer
	for i, s := range sealers {
		if errs[i] != nil {
			continue
		}
		if ref == nil {
			ref = s
			continue
		}
		sealed, _ := ref.Seal([]byte("k"), nil)
		if _, err := s.Open(sealed, nil); err != nil {
			t.Fatalf("concurrent callers loaded different keys")
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	key, err := keyfile.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return key
}
