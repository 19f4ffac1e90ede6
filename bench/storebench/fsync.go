package storebench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/certbind/certbind/bench/internal/benchkit"
)

// fsyncLatency overwrites 4 KiB blocks of a 1 MiB file in dir, syncing each
// write to disk (as bbolt does, see datasync), for about d, and returns the
// median and 99th percentile of write plus sync.
func fsyncLatency(dir string, d time.Duration) (p50, p99 time.Duration, err error) {
	const block, blocks = 4096, 256
	path := filepath.Join(dir, "fsync-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	// Allocate the whole file first, so the loop measures overwrites, as a
	// bbolt commit mostly is, not the file growing.
	buf := make([]byte, block*blocks)
	if _, err := f.Write(buf); err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	var lat []time.Duration
	for start, i := time.Now(), 0; time.Since(start) < d; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(buf[:block], int64(i%blocks)*block); err != nil {
			return 0, 0, fmt.Errorf("fsync probe: %w", err)
		}
		if err := datasync(f); err != nil {
			return 0, 0, fmt.Errorf("fsync probe: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	q := benchkit.Quantiles(lat, 0.5, 0.99)
	return q[0], q[1], nil
}
