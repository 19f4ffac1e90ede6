package masterkey

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/certbind/certbind/services/certmgr/seal"
)

func keyID(t *testing.T, path string) string {
	t.Helper()
	k, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

func TestCreateNextReplacesATornTemporaryFile(t *testing.T) {
	f := Files{Path: filepath.Join(t.TempDir(), "master.key")}
	if err := seal.CreateKeyFile(f.Path); err != nil {
		t.Fatal(err)
	}
	// A crash while writing the temporary file leaves half a key.
	if err := os.WriteFile(f.nextTemp(), []byte("0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.createNext(); err != nil {
		t.Fatal(err)
	}
	if keyID(t, f.Next()) == keyID(t, f.Path) {
		t.Fatal("the next key is the current key")
	}
	if _, err := os.Stat(f.nextTemp()); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind (%v)", err)
	}
	if err := f.createNext(); err == nil {
		t.Fatal("createNext replaced an existing next key")
	}
}

// TestPromoteCanBeRepeated runs promote from every state a crash inside it
// can leave: before it, after the link, after the rename.
func TestPromoteCanBeRepeated(t *testing.T) {
	for _, cut := range []string{"none", "linked"} {
		t.Run(cut, func(t *testing.T) {
			f := Files{Path: filepath.Join(t.TempDir(), "master.key")}
			if err := seal.CreateKeyFile(f.Path); err != nil {
				t.Fatal(err)
			}
			if err := f.createNext(); err != nil {
				t.Fatal(err)
			}
			cur, next := keyID(t, f.Path), keyID(t, f.Next())
			if cut == "linked" {
				if err := os.Link(f.Path, f.Retired(cur)); err != nil {
					t.Fatal(err)
				}
			}
			retired, err := f.promote()
			if err != nil {
				t.Fatal(err)
			}
			if retired != cur || keyID(t, f.Path) != next || keyID(t, f.Retired(cur)) != cur {
				t.Fatalf("after promote: retired %s, current %s", retired, keyID(t, f.Path))
			}
			if _, err := os.Stat(f.Next()); !os.IsNotExist(err) {
				t.Fatalf("next key file left (%v)", err)
			}
			info, err := os.Stat(f.Path)
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("master key file mode %v, %v", info.Mode(), err)
			}
		})
	}
}
