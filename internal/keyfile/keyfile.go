// Package keyfile reads and writes the 32-byte keys certbind keeps in files
// of their own: certmgr's master key and an edge's cache key. A key file
// holds 64 hex characters and a newline, has mode 0600, and is never
// replaced once written. Errors never quote a file's contents, since they
// may be the key; they read "key file PATH ...", for the caller to prefix.
package keyfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Size is the length of a key in bytes.
const Size = 32

// maxSize bounds how much of a key file is read. A real one is 65 bytes;
// anything much bigger is the wrong file, and reading it all would only
// waste memory.
const maxSize = 4096

// Read reads the key in the file at path. The file must be a regular file
// that neither group nor others may access. A missing file gives an error
// that wraps fs.ErrNotExist. The caller clears the key when done with it.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	// Checking the opened file rather than the path means the mode seen is
	// the mode of the file actually read, even if path is swapped meanwhile.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; the mode there says nothing about
	// who can read the file.
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: reading: %w", path, err)
	}
	defer clear(data)
	key, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s %w", path, err)
	}
	return key, nil
}

// Parse decodes a key file's contents: 64 hex characters, with whitespace
// around them. Its errors complete the sentence "key file PATH ..." and
// describe the contents by length and position only.
func Parse(data []byte) ([]byte, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("is larger than %d bytes; it must contain only %d hex characters", maxSize, 2*Size)
	}
	text := bytes.TrimSpace(data)
	if len(text) != 2*Size {
		return nil, fmt.Errorf("must contain %d hex characters (a %d-byte key), found %d characters", 2*Size, Size, len(text))
	}
	for i, c := range text {
		if !isHexDigit(c) {
			// hex.Decode's own error quotes the offending character, which
			// would leak part of the key into logs; say the position only.
			return nil, fmt.Errorf("is not valid hex: character %d is not 0-9 or a-f", i+1)
		}
	}
	key := make([]byte, Size)
	if _, err := hex.Decode(key, text); err != nil {
		return nil, errors.New("is not valid hex")
	}
	return key, nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Create writes a new random key to path as hex and a newline, with mode
// 0600. It never replaces an existing file (the error then wraps
// fs.ErrExist): losing a key makes what it sealed unreadable. The file and
// its directory are synced before it returns, so a key that sealed data
// cannot vanish in a crash.
func Create(path string) error {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("key file %s: generating a key: %w", path, err)
	}
	text := make([]byte, 2*Size+1)
	hex.Encode(text, key)
	text[len(text)-1] = '\n'
	defer clear(key)
	defer clear(text)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// This call created the file, so removing it is safe, and it spares
		// the next start from finding a half-written key.
		os.Remove(path)
		return fmt.Errorf("key file %s: writing: %w", path, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("key file %s: syncing its directory: %w", path, err)
	}
	return nil
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
