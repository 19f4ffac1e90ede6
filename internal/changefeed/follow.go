package changefeed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certbind/certbind/internal/revlog"
)

// Log is the durable changelog behind a hub.
type Log[T Revisioned] interface {
	// ChangesSince returns up to limit changes after rev in revision
	// order, the compaction point and the head (the revision of the last
	// committed change, or a later revision up to which the log knows
	// there is no other change: a log on etcd reports its progress through
	// the revisions of other keys). Every change after the compaction point is kept,
	// so a subscriber at or after it can resume; one before it needs a
	// resync. Revisions increase but need not be consecutive: a gap
	// between two changes is no loss. The compaction point is what etcd
	// reports as its compacted revision; a log that keeps a window of
	// consecutive revisions reports the one before its oldest entry (its
	// head when it holds none).
	//
	// An entry that does not decode is an error that wraps
	// revlog.ErrUndecodable: a subscriber resuming across it gets a
	// resync, since the history cannot be replayed past it but the current
	// state can be sent (a snapshot skips and reports a damaged record).
	ChangesSince(rev uint64, limit int) (changes []T, compacted, head uint64, err error)
	// Epoch names the log's line of history: revisions of one epoch mean
	// nothing in another. A store restored from a backup has a new one.
	Epoch() string
}

// Position is where a subscriber resumes: the last revision it applied and
// the epoch of the store that revision came from.
type Position struct {
	Revision uint64
	Epoch    string
}

// Sink receives one subscriber's stream. Each method sends one message and
// may block; only that subscriber waits.
type Sink[T Revisioned] interface {
	// Resync tells the subscriber to drop its state; a snapshot follows.
	// oldest is the oldest revision the log may still hold (one after its
	// compaction point), 0 when the log was not asked.
	Resync(reason string, requested, oldest uint64) error
	// Snapshot sends the full state and returns the revision it reflects.
	Snapshot() (uint64, error)
	// Change sends one change. The sink may filter it out, but the
	// subscriber's position still moves past it.
	Change(c T) error
	// Heartbeat tells an idle subscriber it is current at rev.
	Heartbeat(rev uint64) error
}

// Options tune Follow.
type Options struct {
	// Buffer is the number of live changes held for a subscriber before the
	// hub cuts it off (it then catches up from the log). Default 256.
	Buffer int
	// Heartbeat is the idle interval between heartbeats. Default 10s.
	Heartbeat time.Duration
	// Batch is how many changes one log read returns. Default 512.
	Batch int
	// Stall is how long one message may wait to go out to a subscriber
	// before Watchdog.Run cuts the subscriber off. Default 1 minute: a
	// reading subscriber takes a message as soon as its 1 MiB gRPC window
	// has room, which even a slow link frees within seconds, so a minute
	// without one means it stopped reading.
	Stall time.Duration
}

// DefaultStall is Options.Stall's default.
const DefaultStall = time.Minute

func (o *Options) defaults() {
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 512
	}
	if o.Stall <= 0 {
		o.Stall = DefaultStall
	}
}

// Follow streams every change after from to sink until ctx ends or the sink
// fails. A revision of 0 starts with a snapshot, and so does a position of
// another epoch than the log's: after a restore the revisions start again
// from the backup's and may repeat ones the subscriber already holds, so
// only a resync is safe. A position without an epoch (a subscriber that
// does not know epochs) resyncs too: nothing shows which store it came
// from, and the cost is one snapshot per reconnect, never a silent gap. It
// returns ctx.Err() on cancellation and the sink's or log's error otherwise.
func Follow[T Revisioned](ctx context.Context, hub *Hub[T], log Log[T], sink Sink[T], from Position, opts Options) error {
	opts.defaults()
	last := from.Revision
	if reason := resumeRefused(from, log.Epoch()); reason != "" {
		rev, err := resync(sink, reason, from.Revision, 0)
		if err != nil {
			return err
		}
		last = rev
	}
	for {
		// Attach before reading the log, so every change committed after the
		// read is either in the log read or in the buffer.
		sub := hub.subscribe(opts.Buffer)
		var err error
		last, err = catchUp(ctx, log, sink, last, opts.Batch)
		if err != nil {
			hub.unsubscribe(sub)
			return err
		}
		last, err = live(ctx, hub, sub, sink, last, opts.Heartbeat)
		hub.unsubscribe(sub)
		if err != nil {
			return err
		}
		// The buffer overflowed: catch up from the log again.
	}
}

// catchUp sends the log's changes after last until it has sent the head it
// read, resyncing when last is older than the retained history. It stops
// between batches when ctx ends, so a cancelled subscriber far behind does
// not first read the whole log.
func catchUp[T Revisioned](ctx context.Context, log Log[T], sink Sink[T], last uint64, batch int) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		changes, compacted, head, err := log.ChangesSince(last, batch)
		if errors.Is(err, revlog.ErrUndecodable) {
			if last, err = resync(sink, err.Error()+": sending a snapshot", last, 0); err != nil {
				return last, err
			}
			continue
		}
		if err != nil {
			return last, err
		}
		oldest := compacted + 1
		switch {
		case last > head:
			// The subscriber saw revisions this store never had: its state
			// came from another store (a restore or a wiped data dir).
			reason := fmt.Sprintf("revision %d is ahead of this server's head %d (the store was replaced)", last, head)
			if last, err = resync(sink, reason, last, oldest); err != nil {
				return last, err
			}
			continue
		case last < compacted:
			// Changes after last may have been dropped: only those after
			// compacted are sure to be kept.
			reason := fmt.Sprintf("revision %d is older than the retained history (oldest %d)", last, oldest)
			if last, err = resync(sink, reason, last, oldest); err != nil {
				return last, err
			}
			continue
		}
		for _, c := range changes {
			if err := sink.Change(c); err != nil {
				return last, err
			}
			last = c.Rev()
		}
		if len(changes) < batch {
			return last, nil
		}
	}
}

// resumeRefused says why a subscriber at from cannot resume from the log of
// the given epoch, or "" when it can.
func resumeRefused(from Position, epoch string) string {
	switch {
	case from.Revision == 0:
		return "no revision given: sending a snapshot"
	case from.Epoch == "":
		return fmt.Sprintf("revision %d was given without its epoch: sending a snapshot of epoch %s", from.Revision, epoch)
	case from.Epoch != epoch:
		return fmt.Sprintf("revision %d is of epoch %s but the store is now at epoch %s (it was restored from a backup): sending a snapshot", from.Revision, from.Epoch, epoch)
	}
	return ""
}

func resync[T Revisioned](sink Sink[T], reason string, requested, oldest uint64) (uint64, error) {
	if err := sink.Resync(reason, requested, oldest); err != nil {
		return requested, err
	}
	return sink.Snapshot()
}

// live sends the hub's changes after last. It returns nil when the
// subscription ends without ctx ending (overflow) so the caller catches up.
func live[T Revisioned](ctx context.Context, hub *Hub[T], sub *subscription[T], sink Sink[T], last uint64, heartbeat time.Duration) (uint64, error) {
	idle := time.NewTimer(heartbeat)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case p, ok := <-sub.ch:
			if !ok {
				return last, nil
			}
			c := *p
			rev := c.Rev()
			if rev <= last {
				continue // already sent from the log
			}
			// The hub delivers in commit order every change committed
			// after the subscription began, and the log read before this
			// loop holds every change committed before it: whatever
			// revision comes next follows last with nothing between.
			if err := sink.Change(c); err != nil {
				return last, err
			}
			last = rev
			idle.Reset(heartbeat)
		case <-idle.C:
			// The store's progress past the last change, when it reports
			// one: the subscriber then resumes from there.
			last = hub.current(sub, last)
			if err := sink.Heartbeat(last); err != nil {
				return last, err
			}
			idle.Reset(heartbeat)
		}
	}
}
