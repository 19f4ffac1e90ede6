// The feed_*_test.go files test changefeed.Follow on this store, the way
// certmgr wires them: they sit here rather than in internal/changefeed,
// which imports no service. changefeed's own tests cover the hub, the
// admission limits and the watchdog.

package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/services/certmgr/store"
)

// openFeed opens a real store in a temporary directory with a hub wired to
// it as its publisher, the way certmgr wires them.
func openFeed(t *testing.T, opts store.Options) (*store.Store, *changefeed.Hub[store.Entry]) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "certmgr.db"), opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	head, err := st.Revision()
	if err != nil {
		t.Fatal(err)
	}
	hub := changefeed.NewHub[store.Entry](head)
	st.SetPublisher(hub.Publish)
	return st, hub
}

var certSeq atomic.Uint64

// write makes one change to st: it creates a certificate, or every other
// time updates the last one it created.
func write(t testing.TB, st *store.Store) uint64 {
	n := certSeq.Add(1)
	if n%2 == 0 {
		id := fmt.Sprintf("c%d", n-1)
		_, ch, err := st.UpdateCertificate("acme", "shop", id, func(c *store.Certificate) (string, error) {
			c.Version++
			return store.ChangeRotated, nil
		})
		if err == nil {
			return ch.Revision
		}
		// Another goroutine's create: make one of our own instead.
	}
	ch, err := st.CreateCertificate(&store.Certificate{
		ID: fmt.Sprintf("c%d", n), Account: "acme", Project: "shop", Name: fmt.Sprintf("cert%d", n),
		Kind: store.KindClient, State: store.StateActive, Version: 1,
	})
	if err != nil {
		t.Errorf("CreateCertificate: %v", err)
	}
	return ch.Revision
}

// writeN makes n writes and returns the last revision.
func writeN(t testing.TB, st *store.Store, n int) uint64 {
	var rev uint64
	for range n {
		rev = write(t, st)
	}
	return rev
}

type event struct {
	kind   string // resync, snapshot, change or heartbeat
	rev    uint64 // requested revision for a resync
	oldest uint64
	reason string
}

func (e event) String() string {
	if e.kind == "resync" {
		return fmt.Sprintf("resync(%d, oldest %d)", e.rev, e.oldest)
	}
	return fmt.Sprintf("%s(%d)", e.kind, e.rev)
}

// testSink records one subscriber's stream and checks, as it goes, that the
// stream makes sense: changes follow their position one by one, a resync is
// followed by a snapshot, heartbeats carry the position.
type testSink struct {
	st *store.Store

	// gate, when not nil, makes Change block until it is closed; blocked is
	// closed the first time it does.
	gate      chan struct{}
	blocked   chan struct{}
	blockOnce sync.Once

	mu       sync.Mutex
	events   []event
	pos      uint64
	synced   bool // a snapshot or a start revision gave pos
	problems []string
	onChange func(rev uint64)
	fail     error // returned by Change when set
}

// newSink returns a sink for a subscriber that starts at from (0: it has
// no state yet and expects a snapshot).
func newSink(st *store.Store, from uint64) *testSink {
	return &testSink{st: st, pos: from, synced: from > 0, blocked: make(chan struct{})}
}

func (s *testSink) Resync(reason string, requested, oldest uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, event{kind: "resync", rev: requested, oldest: oldest, reason: reason})
	s.synced = false
	return nil
}

func (s *testSink) Snapshot() (uint64, error) {
	_, rev, err := s.st.Snapshot()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, event{kind: "snapshot", rev: rev})
	s.pos, s.synced = rev, true
	return rev, nil
}

func (s *testSink) Change(c store.Entry) error {
	if s.gate != nil {
		s.blockOnce.Do(func() { close(s.blocked) })
		<-s.gate
	}
	s.mu.Lock()
	rev := c.Rev()
	if !s.synced {
		s.problemf("change %d before a snapshot", rev)
	} else if rev != s.pos+1 {
		s.problemf("change %d at position %d", rev, s.pos)
	}
	s.events = append(s.events, event{kind: "change", rev: rev})
	s.pos = rev
	hook, fail := s.onChange, s.fail
	s.mu.Unlock()
	if hook != nil {
		hook(rev)
	}
	return fail
}

func (s *testSink) Heartbeat(rev uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev != s.pos {
		s.problemf("heartbeat at %d, position %d", rev, s.pos)
	}
	s.events = append(s.events, event{kind: "heartbeat", rev: rev})
	return nil
}

func (s *testSink) problemf(format string, args ...any) {
	if len(s.problems) < 10 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *testSink) position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

func (s *testSink) setOnChange(fn func(uint64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = fn
}

func (s *testSink) history() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...)
}

// kinds returns the events of the given kinds.
func (s *testSink) only(kinds ...string) []event {
	var out []event
	for _, e := range s.history() {
		for _, k := range kinds {
			if e.kind == k {
				out = append(out, e)
			}
		}
	}
	return out
}

// check fails the test if the stream broke a rule.
func (s *testSink) check(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		t.Errorf("%s: %s", name, p)
	}
}

// startFollow runs Follow until the returned cancel is called (or the test
// ends). wait waits for Follow to return and gives its result; it may be
// called any number of times.
func startFollow(t *testing.T, hub *changefeed.Hub[store.Entry], st *store.Store, sink *testSink, from uint64, opts changefeed.Options) (cancel context.CancelFunc, wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = changefeed.Follow(ctx, hub, st, sink, changefeed.Position{Revision: from, Epoch: st.Epoch()}, opts)
	}()
	wait = func() error {
		<-done
		return err
	}
	t.Cleanup(func() {
		cancel()
		release(sink)
		wait()
	})
	return cancel, wait
}

// release lets a sink's blocked Change calls return.
func release(s *testSink) {
	if s.gate == nil {
		return
	}
	select {
	case <-s.gate:
	default:
		close(s.gate)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// revs returns the revisions of the change events.
func revs(events []event) []uint64 {
	var out []uint64
	for _, e := range events {
		if e.kind == "change" {
			out = append(out, e.rev)
		}
	}
	return out
}

// seq returns from..to.
func seq(from, to uint64) []uint64 {
	var out []uint64
	for r := from; r <= to; r++ {
		out = append(out, r)
	}
	return out
}
