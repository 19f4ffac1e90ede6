package storebench

import (
	"os"
	"syscall"
)

// datasync flushes f's data as bbolt does on Linux: fdatasync, which skips
// the inode's timestamps.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
