package watch

import (
	"sync"
	"time"
)

// Status is what a follower reports about its stream.
type Status struct {
	Name      string
	Revision  uint64
	Connected bool
	// Synced is true once the first snapshot (or resume) has completed.
	Synced    bool
	LastEvent time.Time
	Resyncs   int64
	// KeyRefused is true when the server refused the edge's key
	// (Unauthenticated: revoked or expired) since the last connection.
	KeyRefused bool
	// Epoch is the epoch of the store Revision belongs to; the stream
	// resumes with both, and a store restored from a backup (another
	// epoch) answers with a resync.
	Epoch string
	// FromCache is true while the stream's part of the state is the one
	// Restore installed from the edge's cache: from then until the stream
	// delivers a snapshot, a change or a heartbeat.
	FromCache bool
}

// tracker holds a follower's Status under a lock.
type tracker struct {
	mu sync.Mutex
	s  Status
}

func (t *tracker) get() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

func (t *tracker) update(fn func(*Status)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(&t.s)
}
