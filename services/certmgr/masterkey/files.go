package masterkey

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// Files names the key files of one master key file.
type Files struct {
	// Path is the current master key file.
	Path string
}

// Next is the file of the key a rotation moves to.
func (f Files) Next() string { return f.Path + ".next" }

// Retired is where a rotation keeps the key with the given id once no
// value in the store needs it.
func (f Files) Retired(id string) string { return f.Path + ".retired-" + id }

// nextTemp is where the next key is written before it is renamed to Next.
func (f Files) nextTemp() string { return f.Path + ".next.tmp" }

// createNext writes a new random key to Next, which must not exist. The key
// is written to a temporary file, synced and renamed, so Next is either a
// whole key or absent whenever the process dies.
func (f Files) createNext() error {
	if _, err := os.Lstat(f.Next()); err == nil {
		return fmt.Errorf("key file %s already exists", f.Next())
	}
	if err := os.Remove(f.nextTemp()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := seal.CreateKeyFile(f.nextTemp()); err != nil {
		return err
	}
	if err := os.Rename(f.nextTemp(), f.Next()); err != nil {
		return err
	}
	return seal.SyncDir(filepath.Dir(f.Path))
}

// promote makes the next key the current one: the current file is linked
// to its retired name first, then Next is renamed over Path. Each step is
// atomic and can be repeated, so a crash anywhere leaves a state promote
// finishes.
func (f Files) promote() (retiredID string, err error) {
	cur, err := seal.LoadKeyFile(f.Path)
	if err != nil {
		return "", err
	}
	return f.promoteAs(cur.ID())
}

// promoteAs is promote for a current key file whose key, retiredID, was
// read before. Replicas that share the files may promote at once: the one
// that links the retired name first does so before it renames Next, so a
// later link, of whatever Path then holds, finds the name taken.
func (f Files) promoteAs(retiredID string) (string, error) {
	if err := os.Link(f.Path, f.Retired(retiredID)); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("keeping the retired key as %s: %w", f.Retired(retiredID), err)
	}
	if err := seal.SyncDir(filepath.Dir(f.Path)); err != nil {
		return "", err
	}
	if err := os.Rename(f.Next(), f.Path); err != nil {
		return "", fmt.Errorf("replacing %s with %s: %w", f.Path, f.Next(), err)
	}
	return retiredID, seal.SyncDir(filepath.Dir(f.Path))
}
