package propagation

import (
	"math"
	"slices"
	"time"
)

// quantiles returns the nearest-rank q-quantiles of ds, each q in (0, 1];
// zeros when ds is empty. ds is sorted in place.
func quantiles(ds []time.Duration, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(ds) == 0 {
		return out
	}
	slices.Sort(ds)
	for i, q := range qs {
		rank := int(math.Ceil(q * float64(len(ds))))
		out[i] = ds[max(rank, 1)-1]
	}
	return out
}
