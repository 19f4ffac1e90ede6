package serve

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target that TuneGC sets.
//
// Every certbind service keeps little live data (the edge its snapshots
// and connection pools, certmgr its subscribers' buffers: a few MiB; the
// stores are memory-mapped files, outside the heap) and allocates per
// request, so with Go's default of 100 it collects many times a second.
// At 400 it collects a quarter as often, for a heap a few MiB larger:
// certmgr spent about a third less CPU per certificate create at 400 than
// at 100 with 32 concurrent clients (bench/storebench).
const GCPercent = 400

// TuneGC sets the process's garbage collector target to GCPercent, unless
// the GOGC environment variable sets one, and returns a function that puts
// back the target it replaced. Every main that runs a service calls it (it
// is a setting of the whole process, so no service's New does).
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(GCPercent)
	return func() { debug.SetGCPercent(prev) }
}
