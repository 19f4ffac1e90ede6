package revlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// checkPrivate refuses a store file that the group or others may read or
// write. The file holds sealed private
// keys, API key hashes and every account's metadata: a copy of it, with the
// master key from elsewhere, gives the keys away, and a writer could change
// what the services trust. bbolt creates the file with mode 0600, so only a
// file changed or copied since is refused. Windows has no Unix permission
// bits, and the check says nothing there.
func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("open %s: %w", path, err)
	case info.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("open %s: the database file is accessible by group or others (mode %04o); restrict it with: chmod 600 %s",
			path, info.Mode().Perm(), path)
	}
	return nil
}
