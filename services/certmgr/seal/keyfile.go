package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds how much of a key file is read. A real one is 65
// bytes; anything much bigger is the wrong file, and reading it all would
// only waste memory.
const maxKeyFileSize = 4096

// LoadKeyFile reads a key-encryption key from path: 64 hex characters,
// optionally surrounded by whitespace. The file must not be accessible by
// group or others. A missing file gives an error that wraps fs.ErrNotExist.
// Errors never include the file's contents, since they may be the key.
func LoadKeyFile(path string) (*Sealer, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seal: key file %s does not exist (it holds the key that decrypts the stored private keys; restore it, or create a new one only for an empty database): %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("seal: opening key file: %w", err)
	}
	defer f.Close()

	// Checking the opened file rather than the path means the mode seen is
	// the mode of the file actually read, even if path is swapped meanwhile.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; the mode there says nothing about
	// who can read the file.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s", path, perm, path)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: reading key file %s: %w", path, err)
	}
	defer clear(data)
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s %w", path, err)
	}
	defer clear(key)
	return New(key)
}

// parseKey decodes the contents of a key file. Its errors complete the
// sentence "key file PATH ..." and only ever describe the contents by length
// and position.
func parseKey(data []byte) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("is larger than %d bytes; it must contain only %d hex characters", maxKeyFileSize, 2*KeySize)
	}
	text := bytes.TrimSpace(data)
	if len(text) != 2*KeySize {
		return nil, fmt.Errorf("must contain %d hex characters (a %d-byte key), found %d characters", 2*KeySize, KeySize, len(text))
	}
	for i, c := range text {
		if !isHexDigit(c) {
			// hex.Decode's own error quotes the offending character, which
			// would leak part of the key into logs; report the position only.
			return nil, fmt.Errorf("is not valid hex: character %d is not 0-9 or a-f", i+1)
		}
	}
	key := make([]byte, KeySize)
	if _, err := hex.Decode(key, text); err != nil {
		return nil, errors.New("is not valid hex")
	}
	return key, nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// CreateKeyFile writes a new random key to path as hex and a newline, with
// mode 0600. It never replaces an existing file (the error then wraps
// fs.ErrExist): losing the old key would make every sealed value in the
// database unreadable. The file and its directory are synced before
// returning, so a key that sealed data cannot vanish in a crash.
func CreateKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("seal: generating key: %w", err)
	}
	text := make([]byte, 2*KeySize+1)
	hex.Encode(text, key)
	text[len(text)-1] = '\n'
	defer clear(key)
	defer clear(text)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("seal: key file %s already exists; not replacing it, since data sealed with it could no longer be opened: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	if err := writeAndSync(f, text); err != nil {
		// This call created the file, so removing it is safe, and it spares
		// the next start from finding a half-written key.
		os.Remove(path)
		return fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: syncing directory of key file %s: %w", path, err)
	}
	return nil
}

func writeAndSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir makes new names and renames in dir durable; without it a crash
// can leave a synced file that no name points to.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

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
