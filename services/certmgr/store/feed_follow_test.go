package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/services/certmgr/store"
)

func TestFollowFromZero(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 3)

	sink := newSink(st, 0)
	cancel, wait := startFollow(t, hub, st, sink, 0, changefeed.Options{})
	waitFor(t, "the snapshot", func() bool { return len(sink.only("snapshot")) == 1 })
	writeN(t, st, 3)
	waitFor(t, "revision 6", func() bool { return sink.position() == 6 })
	cancel()
	if err := wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}

	got := sink.history()
	want := []event{{kind: "resync"}, {kind: "snapshot", rev: 3}, {kind: "change", rev: 4}, {kind: "change", rev: 5}, {kind: "change", rev: 6}}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].kind != want[i].kind || got[i].rev != want[i].rev {
			t.Errorf("event %d = %v, want %v", i, got[i], want[i])
		}
	}
	sink.check(t, "subscriber")
	if n := hub.Subscribers(); n != 0 {
		t.Errorf("Subscribers after changefeed.Follow returned = %d, want 0", n)
	}
}

func TestFollowFromMidRevision(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 10)

	// A small batch makes the catch-up read the log several times.
	sink := newSink(st, 4)
	startFollow(t, hub, st, sink, 4, changefeed.Options{Batch: 2})
	waitFor(t, "revision 10", func() bool { return sink.position() == 10 })
	writeN(t, st, 2)
	waitFor(t, "revision 12", func() bool { return sink.position() == 12 })

	if got := sink.only("resync", "snapshot"); len(got) != 0 {
		t.Errorf("a subscriber within the retention got %v", got)
	}
	if got := revs(sink.history()); !slices.Equal(got, seq(5, 12)) {
		t.Errorf("received %v, want 5..12", got)
	}
	sink.check(t, "subscriber")
}

func TestFollowAtHead(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	head := writeN(t, st, 5)
	sink := newSink(st, head)
	startFollow(t, hub, st, sink, head, changefeed.Options{})
	waitFor(t, "the subscription", func() bool { return hub.Subscribers() == 1 })
	writeN(t, st, 1)
	waitFor(t, "revision 6", func() bool { return sink.position() == 6 })
	if got := revs(sink.history()); !slices.Equal(got, []uint64{6}) || len(sink.history()) != 1 {
		t.Errorf("events = %v, want only change 6", sink.history())
	}
}

// TestFollowResumeUnderLoad has subscribers come and go while writers run:
// each resumes from the last revision it received and must end with every
// revision exactly once, in order.
func TestFollowResumeUnderLoad(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 1) // so that the first snapshot has a revision to resume from

	const writers, perWriter = 4, 100
	var writing sync.WaitGroup
	for range writers {
		writing.Go(func() { writeN(t, st, perWriter) })
	}
	var writersDone atomic.Bool
	go func() { writing.Wait(); writersDone.Store(true) }()

	options := []changefeed.Options{
		{Buffer: 1, Batch: 1},
		{Buffer: 2, Batch: 3},
		{Buffer: 4, Batch: 7},
		{Buffer: 16, Batch: 16},
		{},
		{Buffer: 1},
	}
	sinks := make([]*testSink, len(options))
	var subscribers sync.WaitGroup
	for i, opts := range options {
		sink := newSink(st, 0)
		sinks[i] = sink
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		subscribers.Go(func() {
			deadline := time.Now().Add(60 * time.Second)
			for {
				// Leave after a few changes or a short while, whichever
				// comes first, then come back from where we were.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.IntN(10))*time.Millisecond)
				stopAt := sink.position() + uint64(1+rng.IntN(30))
				sink.setOnChange(func(rev uint64) {
					if rev >= stopAt {
						cancel()
					}
				})
				err := changefeed.Follow(ctx, hub, st, sink, changefeed.Position{Revision: sink.position(), Epoch: st.Epoch()}, opts)
				cancel()
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("subscriber %d: changefeed.Follow returned %v", i, err)
					return
				}
				if writersDone.Load() {
					head, err := st.Revision()
					if err != nil {
						t.Error(err)
						return
					}
					if sink.position() == head {
						return
					}
				}
				if time.Now().After(deadline) {
					t.Errorf("subscriber %d: stuck at %d", i, sink.position())
					return
				}
			}
		})
	}
	subscribers.Wait()

	head, err := st.Revision()
	if err != nil {
		t.Fatal(err)
	}
	if head != 1+writers*perWriter {
		t.Fatalf("head = %d, want %d", head, 1+writers*perWriter)
	}
	for i, sink := range sinks {
		name := fmt.Sprintf("subscriber %d %+v", i, options[i])
		sink.check(t, name)
		snaps := sink.only("snapshot")
		if len(snaps) != 1 || len(sink.only("resync")) != 1 {
			t.Errorf("%s: got %d snapshots and %d resyncs, want exactly the first one", name, len(snaps), len(sink.only("resync")))
			continue
		}
		if got := revs(sink.history()); !slices.Equal(got, seq(snaps[0].rev+1, head)) {
			t.Errorf("%s: received %d changes after snapshot %d, want exactly %d..%d", name, len(got), snaps[0].rev, snaps[0].rev+1, head)
		}
	}
}

func TestFollowRetention(t *testing.T) {
	st, hub := openFeed(t, store.Options{Retention: 5})
	writeN(t, st, 20)

	tests := []struct {
		from       uint64
		wantResync bool
		reason     []string
	}{
		{from: 2, wantResync: true, reason: []string{"revision 2", "oldest 16"}},
		{from: 14, wantResync: true, reason: []string{"revision 14", "oldest 16"}},
		{from: 15},
		{from: 19},
		{from: 20},
		{from: 21, wantResync: true, reason: []string{"revision 21", "head 20"}},
		{from: 1000, wantResync: true, reason: []string{"revision 1000", "head 20"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("from ", tt.from), func(t *testing.T) {
			sink := newSink(st, tt.from)
			cancel, wait := startFollow(t, hub, st, sink, tt.from, changefeed.Options{})
			waitFor(t, "the subscription", func() bool { return hub.Subscribers() == 1 && sink.position() == 20 })
			cancel()
			wait()
			sink.check(t, "subscriber")
			events := sink.history()
			if !tt.wantResync {
				if got := revs(events); !slices.Equal(got, seq(tt.from+1, 20)) || len(events) != len(got) {
					t.Errorf("events = %v, want only changes %d..20", events, tt.from+1)
				}
				return
			}
			if len(events) != 2 || events[0].kind != "resync" || events[1].kind != "snapshot" {
				t.Fatalf("events = %v, want a resync and a snapshot", events)
			}
			if r := events[0]; r.rev != tt.from || r.oldest != 16 {
				t.Errorf("resync(requested %d, oldest %d), want (%d, 16)", r.rev, r.oldest, tt.from)
			}
			for _, s := range tt.reason {
				if !strings.Contains(events[0].reason, s) {
					t.Errorf("resync reason %q does not say %q", events[0].reason, s)
				}
			}
			if events[1].rev != 20 {
				t.Errorf("snapshot at %d, want 20", events[1].rev)
			}
		})
	}

	// After the resync the subscriber follows live changes as usual.
	sink := newSink(st, 2)
	startFollow(t, hub, st, sink, 2, changefeed.Options{})
	waitFor(t, "the snapshot", func() bool { return sink.position() == 20 && hub.Subscribers() == 1 })
	writeN(t, st, 3)
	waitFor(t, "revision 23", func() bool { return sink.position() == 23 })
	if got := revs(sink.history()); !slices.Equal(got, seq(21, 23)) {
		t.Errorf("received %v after the resync, want 21..23", got)
	}
	sink.check(t, "subscriber")
}

func TestFollowHeartbeats(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 3)
	sink := newSink(st, 3)
	startFollow(t, hub, st, sink, 3, changefeed.Options{Heartbeat: 5 * time.Millisecond})

	waitFor(t, "a heartbeat at 3", func() bool { return len(sink.only("heartbeat")) >= 2 })
	writeN(t, st, 1)
	waitFor(t, "a heartbeat at 4", func() bool {
		hb := sink.only("heartbeat")
		return hb[len(hb)-1].rev == 4
	})
	for _, hb := range sink.only("heartbeat") {
		if hb.rev != 3 && hb.rev != 4 {
			t.Errorf("heartbeat at %d, want 3 or 4", hb.rev)
		}
	}
	// The sink checks each heartbeat against its position.
	sink.check(t, "subscriber")
}

// TestSlowSubscriber stalls one subscriber inside Change while 2000 writes go
// through: writers never wait for it, a healthy subscriber gets every change,
// and the stalled one catches up from the log once released.
func TestSlowSubscriber(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	var mu sync.Mutex
	var publishTimes []time.Duration
	st.SetPublisher(func(c store.Entry) {
		start := time.Now()
		hub.Publish(c)
		d := time.Since(start)
		mu.Lock()
		publishTimes = append(publishTimes, d)
		mu.Unlock()
	})
	writeN(t, st, 1)

	stalled := newSink(st, 1)
	stalled.gate = make(chan struct{})
	healthy := newSink(st, 1)
	startFollow(t, hub, st, stalled, 1, changefeed.Options{Buffer: 16, Batch: 64})
	startFollow(t, hub, st, healthy, 1, changefeed.Options{})
	waitFor(t, "both subscriptions", func() bool { return hub.Subscribers() == 2 })

	// A writer held up by the stalled subscriber would stop making progress
	// altogether, so the deadline is on progress rather than on the total:
	// on a loaded machine 2000 fsynced writes can take a while.
	const writes = 2000
	var completed atomic.Int64
	var stop atomic.Bool
	written := make(chan struct{})
	go func() {
		defer close(written)
		for range writes {
			if stop.Load() {
				return
			}
			write(t, st)
			completed.Add(1)
		}
	}()
	t.Cleanup(func() {
		// When the test failed with the writer stuck, let it go and wait
		// for it before the store closes.
		stop.Store(true)
		release(stalled)
		<-written
	})
	for last, lastAt := int64(0), time.Now(); ; {
		select {
		case <-written:
		case <-time.After(10 * time.Millisecond):
			if n := completed.Load(); n != last {
				last, lastAt = n, time.Now()
			} else if time.Since(lastAt) > 5*time.Second {
				t.Fatalf("writers blocked behind a stalled subscriber: no write for 5s after %d of %d", n, writes)
			}
			continue
		}
		break
	}
	const head = 1 + writes

	select {
	case <-stalled.blocked:
	default:
		t.Fatal("the stalled subscriber never received a change")
	}
	if pos := stalled.position(); pos != 1 {
		t.Fatalf("stalled subscriber moved to %d while stalled", pos)
	}

	// Publish is a non-blocking send, so it takes microseconds. On a busy
	// machine the OS or the garbage collector can still pause the writer in
	// the middle of one, so a rare call may exceed 5ms; a call that waited
	// for the stalled subscriber would instead not have returned at all.
	mu.Lock()
	times := slices.Clone(publishTimes)
	mu.Unlock()
	if len(times) != head {
		t.Errorf("publisher called %d times for %d writes", len(times), head)
	}
	slices.Sort(times)
	var over int
	for _, d := range times {
		if d >= 5*time.Millisecond {
			over++
		}
	}
	longest := times[len(times)-1]
	t.Logf("Hub.Publish with a stalled subscriber: median %v, longest %v, %d of %d calls at 5ms or more",
		times[len(times)/2], longest, over, len(times))
	if over > len(times)/100 || longest > time.Second {
		t.Errorf("Hub.Publish is slowed down by a stalled subscriber: %d of %d calls took 5ms or more, longest %v", over, len(times), longest)
	}

	waitFor(t, "the healthy subscriber to reach the head", func() bool { return healthy.position() == head })
	// The stalled subscriber was cut off; only the healthy one is attached.
	waitFor(t, "one subscription", func() bool { return hub.Subscribers() == 1 })
	if pos := stalled.position(); pos != 1 {
		t.Errorf("stalled subscriber moved to %d while stalled", pos)
	}

	release(stalled)
	waitFor(t, "the released subscriber to catch up", func() bool { return stalled.position() == head })
	waitFor(t, "both subscriptions again", func() bool { return hub.Subscribers() == 2 })

	for name, sink := range map[string]*testSink{"healthy": healthy, "stalled": stalled} {
		sink.check(t, name)
		if got := revs(sink.history()); !slices.Equal(got, seq(2, head)) {
			t.Errorf("%s subscriber received %d changes, want exactly 2..%d in order", name, len(got), head)
		}
		if got := sink.only("resync", "snapshot"); len(got) != 0 {
			t.Errorf("%s subscriber got %v", name, got)
		}
	}
}

func TestFollowSinkError(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 3)
	boom := errors.New("stream broken")

	// Failing during the catch-up and failing on a live change both end
	// changefeed.Follow with the sink's error and detach it.
	for _, from := range []uint64{1, 3} {
		sink := newSink(st, from)
		sink.fail = boom
		_, wait := startFollow(t, hub, st, sink, from, changefeed.Options{})
		if from == 3 {
			waitFor(t, "the subscription", func() bool { return hub.Subscribers() == 1 })
			writeN(t, st, 1)
		}
		if err := wait(); !errors.Is(err, boom) {
			t.Errorf("from %d: changefeed.Follow returned %v, want the sink's error", from, err)
		}
		if n := hub.Subscribers(); n != 0 {
			t.Errorf("from %d: %d subscribers left attached", from, n)
		}
	}
}

type failingLog struct{ err error }

func (l failingLog) ChangesSince(uint64, int) ([]store.Entry, uint64, uint64, error) {
	return nil, 0, 0, l.err
}

func (l failingLog) Epoch() string { return "failing" }

func TestFollowLogError(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	broken := errors.New("disk on fire")
	err := changefeed.Follow(context.Background(), hub, failingLog{broken}, newSink(st, 1), changefeed.Position{Revision: 1, Epoch: "failing"}, changefeed.Options{})
	if !errors.Is(err, broken) {
		t.Errorf("Follow returned %v, want the log's error", err)
	}
	if n := hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left attached", n)
	}
}

// A cancelled subscriber far behind stops between log reads instead of
// first reading the whole log.
func TestFollowCancelledDuringCatchUp(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 50)
	ctx, cancel := context.WithCancel(context.Background())
	sink := newSink(st, 1)
	sink.setOnChange(func(rev uint64) {
		if rev == 3 {
			cancel()
		}
	})
	err := changefeed.Follow(ctx, hub, st, sink, changefeed.Position{Revision: 1, Epoch: st.Epoch()}, changefeed.Options{Batch: 4})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}
	if got := revs(sink.history()); !slices.Equal(got, seq(2, 5)) {
		t.Errorf("received %v after cancelling at 3, want the rest of that batch only (2..5)", got)
	}
}
