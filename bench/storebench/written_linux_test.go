package storebench

import (
	"syscall"
	"testing"
)

// countsWrites reports whether what this process writes to files in dir
// shows in /proc/self/io: on Linux it does, unless dir is on tmpfs, whose
// pages never go to a disk.
func countsWrites(t *testing.T, dir string) bool {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	const tmpfsMagic = 0x01021994
	return st.Type != tmpfsMagic
}
