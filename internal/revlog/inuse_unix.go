//go:build unix

package revlog

import (
	"errors"
	"os"
	"syscall"
)

// InUse reports whether a process holds the store file at path open, as
// bbolt does with an flock for as long as a service runs on it. A restore
// must not replace a file under a running service.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
