package edge

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target that TuneGC sets. The edge
// keeps little live data (its snapshots and pools: a few MiB) and
// allocates per request, so with Go's default of 100 it collects many
// times a second; at 400 it collects a quarter as often, for a heap a few
// MiB larger.
const GCPercent = 400

// TuneGC sets the garbage collector's target to GCPercent unless the GOGC
// environment variable sets one. The mains that run an edge call it; it is
// not done by New, since it is a setting of the whole process.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
