package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// loadKey loads the cache's key file. It creates one (32 random bytes, mode
// 0600) only when there is no cache file to open: a new key over an
// existing cache would throw that cache away without a word, and a key
// path mistyped by the operator should be noticed, not papered over. A key
// file group or others can read is refused (seal.LoadKeyFile says which
// chmod fixes it).
func loadKey(keyFile, cacheFile string, log *slog.Logger) (*seal.Sealer, error) {
	s, err := seal.LoadKeyFile(keyFile)
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
	s, created, err := seal.LoadOrCreateKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the edge cache's key file for a new cache", slog.String("path", keyFile))
	}
	return s, nil
}
