package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// CheckDataDir checks that a data dir is private to its owner. The files
// inside are checked one by one (the databases, master.key, admin.key must
// be 0600); the directory matters besides, because whoever may write to it
// can replace those files: plant an admin.key of their own, or a database of
// their choosing. So group or others with write access, or others with any
// access, are refused with the chmod that fixes it. A directory the group
// may only read and enter (0750) is allowed with a warning: a shared
// operations group is common, the names it reveals are not secret, and
// every secret file inside is still refused unless it is 0600. A dir that
// does not exist passes (it is created 0700). Windows has no Unix
// permission bits, and the check says nothing there.
func CheckDataDir(path string) (warning string, err error) {
	if runtime.GOOS == "windows" {
		return "", nil
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("data dir %s: %w", path, err)
	case !info.IsDir():
		return "", fmt.Errorf("data dir %s is not a directory: pass a directory to --data-dir", path)
	}
	perm := info.Mode().Perm()
	switch {
	case perm&0o007 != 0:
		return "", fmt.Errorf("data dir %s is accessible by others (mode %04o); restrict it with: chmod 700 %s", path, perm, path)
	case perm&0o020 != 0:
		return "", fmt.Errorf("data dir %s is writable by its group (mode %04o), who could replace its key files; restrict it with: chmod 700 %s", path, perm, path)
	case perm&0o070 != 0:
		return fmt.Sprintf("data dir %s may be read by its group (mode %04o); the files inside stay private, but chmod 700 %s keeps even their names to you", path, perm, path), nil
	}
	return "", nil
}
