package seal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/certbind/certbind/internal/keyfile"
)

// LoadKeyFile reads a key-encryption key from path: 64 hex characters,
// optionally surrounded by whitespace. The file must not be accessible by
// group or others. A missing file gives an error that wraps fs.ErrNotExist.
// Errors never include the file's contents, since they may be the key.
func LoadKeyFile(path string) (*Sealer, error) {
	key, err := keyfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("seal: key file %s does not exist (it holds the key that decrypts the stored private keys; restore it, or create a new one only for an empty database): %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	defer clear(key)
	return New(key)
}

// CreateKeyFile writes a new random key to path as hex and a newline, with
// mode 0600. It never replaces an existing file (the error then wraps
// fs.ErrExist): losing the old key would make every sealed value in the
// database unreadable. The file and its directory are synced before
// returning, so a key that sealed data cannot vanish in a crash.
func CreateKeyFile(path string) error {
	err := keyfile.Create(path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("seal: key file %s already exists; not replacing it, since data sealed with it could no longer be opened: %w", path, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return nil
}

// SyncDir makes new names and renames in dir durable; without it a crash
// can leave a synced file that no name points to.
func SyncDir(dir string) error { return keyfile.SyncDir(dir) }

// LoadOrCreateKeyFile loads the key at path, creating it first if the file
// does not exist; created reports whether it did. It is meant for `certbind
// dev`, where a fresh data directory should simply work. If another process
// creates the file first, this one loads that key instead of making its own.
func LoadOrCreateKeyFile(path string) (s *Sealer, created bool, err error) {
	s, err = LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	switch err := CreateKeyFile(path); {
	case err == nil:
		created = true
	case !errors.Is(err, fs.ErrExist):
		return nil, false, err
	}
	s, err = LoadKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	return s, created, nil
}
