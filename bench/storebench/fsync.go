package storebench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/certbind/certbind/bench/internal/benchkit"
)

// syncProbe is one shape of write that the disk's sync latency is probed
// with.
type syncProbe struct {
	// pages is how many 4 KiB pages are written before each sync.
	pages int
	// scattered writes each page on its own at a random place in the file,
	// as a bbolt commit writes the pages it touched wherever the file had
	// room for them; otherwise all are written at once, in one place.
	scattered bool
}

// The probes: one page, as a commit's meta page is written, and 64 pages
// (what a commit of about ten grouped creates writes) together and
// scattered.
var (
	onePage       = syncProbe{pages: 1}
	pagesTogether = syncProbe{pages: 64}
	pagesScatter  = syncProbe{pages: 64, scattered: true}
)

// syncLatency writes to a file in dir as p says, syncing after each round
// (as bbolt does, see datasync), for about d, and returns the median and
// 99th percentile of a round's writes plus sync. The file is written whole
// first, so that rounds overwrite, as a commit mostly does, rather than
// grow it.
func syncLatency(dir string, p syncProbe, d time.Duration) (p50, p99 time.Duration, err error) {
	const page = 4096
	filePages := 16 * p.pages
	if p.scattered {
		filePages = 4096
	}
	path := filepath.Join(dir, "fsync-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	if _, err := f.Write(make([]byte, filePages*page)); err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("fsync probe: %w", err)
	}
	buf := make([]byte, p.pages*page)
	var lat []time.Duration
	for start, round := time.Now(), 0; time.Since(start) < d; round++ {
		t0 := time.Now()
		if p.scattered {
			for _, at := range rand.Perm(filePages)[:p.pages] {
				if _, err := f.WriteAt(buf[:page], int64(at*page)); err != nil {
					return 0, 0, fmt.Errorf("fsync probe: %w", err)
				}
			}
		} else if _, err := f.WriteAt(buf, int64(round%16*len(buf))); err != nil {
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
