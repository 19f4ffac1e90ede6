package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretHex is a valid key whose text must never appear in an error.
const secretHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func write(t *testing.T, contents string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode passes the umask
		t.Fatal(err)
	}
	return path
}

func TestRead(t *testing.T) {
	for _, contents := range []string{secretHex, secretHex + "\n", "  " + strings.ToUpper(secretHex) + "\r\n"} {
		key, err := Read(write(t, contents, 0o600))
		if err != nil {
			t.Fatalf("Read(%q): %v", contents, err)
		}
		if want, _ := hex.DecodeString(secretHex); !bytes.Equal(key, want) {
			t.Fatalf("Read(%q) = %x", contents, key)
		}
	}
}

// TestReadRefuses: each bad file is refused with what is wrong and never
// with what it holds.
func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, contents string
		mode           os.FileMode
		want           string
	}{
		{"empty", "", 0o600, "found 0 characters"},
		{"short", secretHex[:62], 0o600, "must contain 64 hex characters (a 32-byte key), found 62"},
		{"long", secretHex + "00", 0o600, "found 66"},
		{"not hex", "zz" + secretHex[2:], 0o600, "character 1 is not 0-9 or a-f"},
		{"inner space", secretHex[:31] + " " + secretHex[32:], 0o600, "character 32"},
		{"huge", strings.Repeat(secretHex, 100), 0o600, "larger than 4096 bytes"},
		{"group readable", secretHex, 0o640, "chmod 600"},
		{"world readable", secretHex, 0o604, "accessible by group or others (mode 0604)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, tc.contents, tc.mode)
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read = %v, want an error naming %s and saying %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), secretHex[:8]) || strings.Contains(err.Error(), "zz") {
				t.Fatalf("the error quotes the file: %v", err)
			}
		})
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read(a directory) = %v", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read(a missing file) = %v, want fs.ErrNotExist", err)
	}
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := Create(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 || info.Size() != 2*Size+1 {
		t.Fatalf("created key file: mode %v, size %d", info.Mode().Perm(), info.Size())
	}
	first, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file = %v, want fs.ErrExist", err)
	}
	if again, _ := Read(path); !bytes.Equal(again, first) {
		t.Fatal("Create replaced an existing key")
	}
	other := filepath.Join(t.TempDir(), "key")
	if err := Create(other); err != nil {
		t.Fatal(err)
	}
	if second, _ := Read(other); bytes.Equal(second, first) {
		t.Fatal("two keys created are the same")
	}
}

// parseErrors are Parse's errors: they say nothing of the contents but
// their length and a position.
var parseErrors = regexp.MustCompile(`^(is larger than \d+ bytes; it must contain only \d+ hex characters|must contain \d+ hex characters \(a \d+-byte key\), found \d+ characters|is not valid hex(: character \d+ is not 0-9 or a-f)?)$`)

// FuzzParse: any contents are the key they spell or one of Parse's fixed
// errors, which quote none of them.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{secretHex, secretHex + "\n", " " + secretHex + " ", secretHex[:63], secretHex + "0", "", "\x00", "zz" + secretHex[2:]} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := Parse(data)
		want, hexErr := hex.DecodeString(string(bytes.TrimSpace(data)))
		valid := len(data) <= maxSize && hexErr == nil && len(want) == Size
		if valid != (err == nil) {
			t.Fatalf("Parse(%q) = %v, want success %v", data, err, valid)
		}
		if err != nil && (key != nil || !parseErrors.MatchString(err.Error())) {
			t.Fatalf("Parse(%q) = %x, %v: want no key and one of the fixed errors", data, key, err)
		}
		if err == nil && !bytes.Equal(key, want) {
			t.Fatalf("Parse(%q) = %x, want %x", data, key, want)
		}
	})
}
