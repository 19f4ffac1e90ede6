package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/certbind/certbind/internal/keyfile"
)

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
	key, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("cache %w", err)
	}
	defer clear(key)
	return newSealer(key)
}

// createKeyFile writes a new random key to path, never over an existing
// file (the error then wraps fs.ErrExist), synced with its directory.
func createKeyFile(path string) error {
	if err := keyfile.Create(path); err != nil {
		return fmt.Errorf("cache %w", err)
	}
	return nil
}
