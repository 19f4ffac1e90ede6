package httpbench

import (
	"slices"
	"time"

	"github.com/certbind/certbind/bench/internal/benchkit"
)

func sortDurations(d []time.Duration) { slices.Sort(d) }

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted; 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	return benchkit.Quantile(sorted, p/100)
}
