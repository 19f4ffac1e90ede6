package changefeed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sparseLog is a changelog whose revisions go up by ten, the way etcd's
// skip the revisions of other keys: 10, 20, 30... Compacting it drops every
// change at or before a revision.
type sparseLog struct {
	mu        sync.Mutex
	changes   []rev
	compacted uint64
	hub       *Hub[rev]
}

func (l *sparseLog) write() uint64 {
	l.mu.Lock()
	r := rev(10)
	if n := len(l.changes); n > 0 {
		r = l.changes[n-1] + 10
	} else if l.compacted > 0 {
		r = rev(l.compacted + 10)
	}
	l.changes = append(l.changes, r)
	l.mu.Unlock()
	l.hub.Publish(r)
	return uint64(r)
}

func (l *sparseLog) compact(at uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = slices.DeleteFunc(l.changes, func(r rev) bool { return uint64(r) <= at })
	l.compacted = at
}

func (l *sparseLog) head() uint64 {
	if n := len(l.changes); n > 0 {
		return uint64(l.changes[n-1])
	}
	return l.compacted
}

func (l *sparseLog) ChangesSince(r uint64, limit int) ([]rev, uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rev
	for _, c := range l.changes {
		if uint64(c) > r && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, l.compacted, l.head(), nil
}

func (l *sparseLog) Epoch() string { return "e1" }

// sparseSink records what a subscriber receives; the snapshot reflects the
// log's head. A gate, when set, holds every change until it is closed.
type sparseSink struct {
	log    *sparseLog
	gate   chan struct{}
	mu     sync.Mutex
	events []string
	last   uint64
}

func (s *sparseSink) add(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *sparseSink) Resync(reason string, requested, oldest uint64) error {
	s.add(fmt.Sprintf("resync %d oldest %d", requested, oldest))
	return nil
}

func (s *sparseSink) Snapshot() (uint64, error) {
	s.log.mu.Lock()
	head := s.log.head()
	s.log.mu.Unlock()
	s.add(fmt.Sprintf("snapshot %d", head))
	s.mu.Lock()
	s.last = head
	s.mu.Unlock()
	return head, nil
}

func (s *sparseSink) Change(c rev) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(c) <= s.last {
		return fmt.Errorf("change %d after %d: out of order or repeated", c, s.last)
	}
	s.last = uint64(c)
	s.events = append(s.events, fmt.Sprintf("change %d", c))
	return nil
}

func (s *sparseSink) Heartbeat(r uint64) error {
	s.add(fmt.Sprintf("heartbeat %d", r))
	return nil
}

func (s *sparseSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func newSparse(n int) *sparseLog {
	l := &sparseLog{hub: NewHub[rev](0)}
	for range n {
		l.write()
	}
	return l
}

func follow(t *testing.T, l *sparseLog, sink *sparseSink, from uint64, opts Options) (cancel func()) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, l.hub, l, sink, Position{Revision: from, Epoch: "e1"}, opts) }()
	return func() {
		cancelCtx()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow ended with %v, want context.Canceled", err)
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func changesIn(events []string) []string {
	return slices.DeleteFunc(slices.Clone(events), func(e string) bool { return !strings.HasPrefix(e, "change ") })
}

func TestFollowSparseRevisions(t *testing.T) {
	t.Run("resume", func(t *testing.T) {
		l := newSparse(3) // 10 20 30
		sink := &sparseSink{log: l, last: 10}
		stop := follow(t, l, sink, 10, Options{Heartbeat: time.Hour})
		waitUntil(t, "20 and 30 from the log", func() bool { return len(sink.got()) == 2 })
		l.write() // 40, live
		waitUntil(t, "40 live", func() bool { return len(sink.got()) == 3 })
		stop()
		if got, want := sink.got(), []string{"change 20", "change 30", "change 40"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("resume at a revision between changes", func(t *testing.T) {
		l := newSparse(3)
		sink := &sparseSink{log: l, last: 25}
		stop := follow(t, l, sink, 25, Options{Heartbeat: time.Hour})
		waitUntil(t, "30", func() bool { return len(sink.got()) == 1 })
		stop()
		if got := sink.got(); !slices.Equal(got, []string{"change 30"}) {
			t.Errorf("got %v, want [change 30]", got)
		}
	})
	t.Run("resume at the compaction point", func(t *testing.T) {
		l := newSparse(5)
		l.compact(30) // 40 and 50 kept
		sink := &sparseSink{log: l, last: 30}
		stop := follow(t, l, sink, 30, Options{Heartbeat: time.Hour})
		waitUntil(t, "40 and 50", func() bool { return len(sink.got()) == 2 })
		stop()
		if got := sink.got(); !slices.Equal(got, []string{"change 40", "change 50"}) {
			t.Errorf("got %v, want [change 40 change 50] with no resync", got)
		}
	})
	t.Run("resync past the compaction point", func(t *testing.T) {
		l := newSparse(5)
		l.compact(30)
		sink := &sparseSink{log: l, last: 20}
		stop := follow(t, l, sink, 20, Options{Heartbeat: time.Hour})
		waitUntil(t, "resync and snapshot", func() bool { return len(sink.got()) == 2 })
		l.write() // 60
		waitUntil(t, "60", func() bool { return len(sink.got()) == 3 })
		stop()
		if got, want := sink.got(), []string{"resync 20 oldest 31", "snapshot 50", "change 60"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("overflow catches up from the log", func(t *testing.T) {
		l := newSparse(1) // 10
		sink := &sparseSink{log: l, last: 10, gate: make(chan struct{})}
		stop := follow(t, l, sink, 10, Options{Buffer: 2, Heartbeat: time.Hour})
		waitUntil(t, "the subscription", func() bool { return l.hub.Subscribers() == 1 })
		l.write() // 20: the subscriber takes it and waits at the gate
		for range 10 {
			l.write() // 30..120: its buffer of 2 overflows
		}
		waitUntil(t, "the cut-off", func() bool { return l.hub.Subscribers() == 0 })
		close(sink.gate)
		waitUntil(t, "every change", func() bool { return len(sink.got()) == 11 })
		l.write() // 130, live again
		waitUntil(t, "130", func() bool { return len(sink.got()) == 12 })
		stop()
		var want []string
		for r := 20; r <= 130; r += 10 {
			want = append(want, fmt.Sprintf("change %d", r))
		}
		if got := sink.got(); !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("a history restarted with Drop resyncs live subscribers", func(t *testing.T) {
		l := newSparse(2) // 10 20
		sink := &sparseSink{log: l, last: 20}
		stop := follow(t, l, sink, 20, Options{Heartbeat: time.Hour})
		waitUntil(t, "the subscription", func() bool { return l.hub.Subscribers() == 1 })
		// The log misses 30 and 40 (an etcd watch cut off past a
		// compaction) and starts again at 40; its next change is 50.
		l.mu.Lock()
		l.changes, l.compacted = nil, 40
		l.mu.Unlock()
		l.hub.Drop()
		waitUntil(t, "resync and snapshot", func() bool { return len(sink.got()) == 2 })
		l.write() // 50
		waitUntil(t, "50", func() bool { return len(sink.got()) == 3 })
		stop()
		if got, want := sink.got(), []string{"resync 20 oldest 41", "snapshot 40", "change 50"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		l := newSparse(2)
		sink := &sparseSink{log: l, last: 20}
		stop := follow(t, l, sink, 20, Options{Heartbeat: 5 * time.Millisecond})
		waitUntil(t, "a heartbeat at 20", func() bool { return slices.Contains(sink.got(), "heartbeat 20") })
		l.write() // 30
		waitUntil(t, "a heartbeat at 30", func() bool { return slices.Contains(sink.got(), "heartbeat 30") })
		stop()
		if got := changesIn(sink.got()); !slices.Equal(got, []string{"change 30"}) {
			t.Errorf("changes %v, want [change 30]", got)
		}
	})
	t.Run("heartbeat carries the store's progress", func(t *testing.T) {
		l := newSparse(2)
		sink := &sparseSink{log: l, last: 20}
		stop := follow(t, l, sink, 20, Options{Heartbeat: 5 * time.Millisecond})
		waitUntil(t, "a heartbeat at 20", func() bool { return slices.Contains(sink.got(), "heartbeat 20") })
		// Writes to other keys of the store's cluster: no change, but
		// the store's revision moves to 25.
		l.hub.Progress(25)
		waitUntil(t, "a heartbeat at 25", func() bool { return slices.Contains(sink.got(), "heartbeat 25") })
		l.write() // 30
		waitUntil(t, "a heartbeat at 30", func() bool { return slices.Contains(sink.got(), "heartbeat 30") })
		stop()
		if got := changesIn(sink.got()); !slices.Equal(got, []string{"change 30"}) {
			t.Errorf("changes %v, want [change 30]", got)
		}
		// The history is compacted past the last change the subscriber
		// had before the progress: resuming from the heartbeat's
		// revision needs no resync.
		l.compact(22)
		again := &sparseSink{log: l, last: 25}
		stop = follow(t, l, again, 25, Options{Heartbeat: time.Hour})
		l.write() // 40
		waitUntil(t, "40", func() bool { return len(again.got()) > 0 })
		stop()
		if got := again.got(); !slices.Equal(got, []string{"change 30", "change 40"}) {
			t.Errorf("resumed from the heartbeat's revision 25 after a compaction at 22: %v, want [change 30 change 40]", got)
		}
	})
}
