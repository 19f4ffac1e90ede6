//go:build !unix

package storebench

import "time"

// processCPU cannot tell outside Unix.
func processCPU() (time.Duration, bool) { return 0, false }
