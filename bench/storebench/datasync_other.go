//go:build !linux

package storebench

import "os"

// datasync flushes f's data; bbolt uses fsync outside Linux too.
func datasync(f *os.File) error { return f.Sync() }
