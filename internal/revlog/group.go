package revlog

import (
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commits bbolt write transactions in groups: a write that finds no
// commit in flight commits at once, and the writes that arrive while one is
// in flight all share the next transaction and its fsync. A lone writer
// waits for no timer (unlike bbolt's Batch), and many writers need far fewer
// fsyncs than writes.
//
// A group whose transaction fails is rolled back; the write that failed is
// then run alone so that its error goes to its caller only, and the others
// are committed as a group again. A write's function may therefore run more
// than once and must only touch the transaction.
type Group struct {
	DB *bolt.DB
	// Observe, when set, is told how long each write took, from Update's
	// call until its transaction committed (or failed): the wait for the
	// group in flight, the transaction and its fsync. Set it before the
	// first write.
	Observe func(time.Duration)

	mu      sync.Mutex
	pending []*call
	running bool
	commits atomic.Uint64
	busy    atomic.Int64 // nanoseconds
}

type call struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan error
}

// Update runs fn in a write transaction shared with concurrent writes and
// returns once that transaction is committed (or fn's error).
func (g *Group) Update(fn func(*bolt.Tx) error) error {
	if g.Observe != nil {
		start := time.Now()
		defer func() { g.Observe(time.Since(start)) }()
	}
	c := &call{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	return <-c.done
}

// Stats says how a Group's writes have been committed.
type Stats struct {
	// Commits is how many transactions the group has committed: a group
	// of writes committed together counts once.
	Commits uint64
	// Busy is how long groups have been running, from a group's start to
	// the last of its transactions committed (or rolled back), groups one
	// after another. A group counts when it has finished. Busy as a share
	// of the time elapsed tells how close writes are to the bound of
	// groups committed back to back.
	Busy time.Duration
}

// Stats returns the group's counts since it was made.
func (g *Group) Stats() Stats {
	return Stats{Commits: g.commits.Load(), Busy: time.Duration(g.busy.Load())}
}

func (g *Group) loop() {
	for {
		g.mu.Lock()
		calls := g.pending
		g.pending = nil
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction, then counts the group's time and
// only then returns each call its result, so that a caller who reads Stats
// after its write finds the group counted.
func (g *Group) commit(calls []*call) {
	start, all := time.Now(), calls
	for len(calls) > 0 {
		failed := -1
		err := g.update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err = err
			}
			break
		}
		// Give the failing write its own transaction and error, and try the
		// others again together. The capacity of calls[:failed:failed]
		// makes append copy, leaving all as it was.
		bad := calls[failed]
		bad.err = g.update(bad.fn)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
	g.busy.Add(int64(time.Since(start)))
	for _, c := range all {
		c.done <- c.err
	}
}

// update runs fn in a transaction and counts the transaction if it commits.
func (g *Group) update(fn func(*bolt.Tx) error) error {
	err := g.DB.Update(fn)
	if err == nil {
		g.commits.Add(1)
	}
	return err
}
