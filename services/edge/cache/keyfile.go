package cache

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds how much of a key file is read: a real one is 65
// bytes.
const maxKeyFileSize = 4096

// loadKey loads the cache's key file. It creates one (32 random bytes as
// hex, mode 0600) only when there is no cache file to open: a new key over
// an existing cache would throw that cache away without a word, and a key
// path mistyped by the operator should be noticed, not papered over. A key
// file group or others can read is refused with the chmod that fixes it.
func loadKey(keyFile, cacheFile string, log *slog.Logger) (*sealer, error) {
	s, err := loadKeyFile(keyFile)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	switch _, serr := os.Stat(cacheFile); {
	case serr == nil:
		return nil, fmt.Errorf("cache key file %s is missing, but %s holds a cache sealed with a key: restore the key file, or delete %s to start with an empty cache",
			keyFile, cacheFile, cacheFile)
	case !errors.Is(serr, fs.ErrNotExist):
		return nil, fmt.Errorf("cache file %s: %w", cacheFile, serr)
	}
	switch err := createKeyFile(keyFile); {
	case err == nil:
		log.Info("created the edge cache's key file for a new cache", slog.String("path", keyFile))
	case !errors.Is(err, fs.ErrExist): // another process made it first: use it
		return nil, err
	}
	return loadKeyFile(keyFile)
}

// loadKeyFile reads a key file. Its errors never quote the file's
// contents.
func loadKeyFile(path string) (*sealer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cache key file: %w", err)
	}
	defer f.Close()
	// The mode checked is the opened file's, even if path is swapped.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cache key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("cache key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("cache key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading cache key file %s: %w", path, err)
	}
	defer clear(data)
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("cache key file %s %w", path, err)
	}
	defer clear(key)
	return newSealer(key)
}

// parseKey decodes a key file's contents: 64 hex characters, with
// whitespace around them. Its errors complete "cache key file PATH ..."
// and describe the contents by length only.
func parseKey(data []byte) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("is larger than %d bytes; it must hold only %d hex characters", maxKeyFileSize, 2*keySize)
	}
	text := bytes.TrimSpace(data)
	if len(text) != 2*keySize {
		return nil, fmt.Errorf("must hold %d hex characters (a %d-byte key), found %d characters", 2*keySize, keySize, len(text))
	}
	key := make([]byte, keySize)
	if _, err := hex.Decode(key, text); err != nil {
		// hex's own error quotes the byte, which is part of the key.
		return nil, errors.New("is not valid hex")
	}
	return key, nil
}

// createKeyFile writes a new random key to path, never over an existing
// file (the error then wraps fs.ErrExist), synced with its directory.
func createKeyFile(path string) error {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generating the cache key: %w", err)
	}
	text := []byte(hex.EncodeToString(key) + "\n")
	defer clear(key)
	defer clear(text)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating cache key file: %w", err)
	}
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing cache key file %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes new names and renames in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
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
