//go:build unix

package storebench

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time this process has used so
// far: certmgr and its clients both run in it.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
