package etcdkv

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/testetcd"
)

func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }

type rev uint64

func (r rev) Rev() uint64 { return uint64(r) }

func everyEvent(r int64, evs []*clientv3.Event) ([]rev, error) { return []rev{rev(r)}, nil }

// TestWindowRestartsAfterCompaction: a window whose watch etcd compacted
// past (a replica cut off for longer than etcd keeps its history) starts
// its history again at the current revision, so a subscriber behind it
// resyncs, tells its store (which cuts off live subscribers), and follows
// the writes after it.
func TestWindowRestartsAfterCompaction(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := cli.Put(ctx, prefix+"k", "1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := cli.Put(ctx, prefix+"k", "2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, second.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// A window that has taken in everything up to before the first write
	// watches from it: etcd no longer has it.
	wctx, stop := context.WithCancel(context.Background())
	w := &Window[rev]{cli: cli, prefix: prefix, convert: everyEvent, size: 10, log: discard(),
		cancel: stop, done: make(chan struct{}), moved: make(chan struct{})}
	w.restart(first.Header.Revision - 1)
	restarted := make(chan struct{}, 10)
	w.SetRestarted(func() { restarted <- struct{}{} })
	go w.run(wctx)
	defer w.Close()

	third, err := cli.Put(ctx, prefix+"k", "3")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx, third.Header.Revision, true); err != nil {
		t.Fatal(err)
	}
	if len(restarted) != 1 {
		t.Errorf("the window told of %d restarts, want 1 (live subscribers must catch up from it)", len(restarted))
	}
	got, compacted, head := w.Since(0, 10)
	if compacted != uint64(second.Header.Revision-1) || head != uint64(third.Header.Revision) {
		t.Errorf("after the compaction: compacted %d, head %d; want compacted %d (before the oldest revision etcd has), head %d",
			compacted, head, second.Header.Revision-1, third.Header.Revision)
	}
	if want := []rev{rev(second.Header.Revision), rev(third.Header.Revision)}; !slices.Equal(got, want) {
		t.Errorf("the window holds %v, want %v: what etcd still has, replayed", got, want)
	}
}

// TestWindowReplaysHistory: a window started after writes (a replica
// starting) replays what etcd still has of them, so a subscriber resumes
// on it from before it started.
func TestWindowReplaysHistory(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want []rev
	for i := range 3 {
		resp, err := cli.Put(ctx, prefix+"k", strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rev(resp.Header.Revision))
	}
	w, err := StartWindow(ctx, cli, prefix, everyEvent, WindowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	head, err := w.Head(ctx)
	if err != nil || head != uint64(want[2]) {
		t.Fatalf("Head = %d, %v; want %d", head, err, want[2])
	}
	got, compacted, _ := w.Since(uint64(want[0]), 10)
	if !slices.Equal(got, want[1:]) || compacted >= uint64(want[0]) {
		t.Errorf("Since(%d) = %v, compacted %d; want %v, compacted before %d", want[0], got, compacted, want[1:], want[0])
	}
}

// TestWindowProgressOutsideThePrefix: writes to etcd outside the window's
// prefix (another service's keys) bring its watch no event, yet the
// window's progress follows them: a wait for one of their revisions ends
// (the window asks etcd for its watch's progress), the window asks by
// itself every Progress interval and tells its progress function, and
// Since reports the progress as its head, so a subscriber at that
// revision resumes rather than being told it is ahead.
func TestWindowProgressOutsideThePrefix(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := cli.Put(ctx, prefix+"in/k", "1")
	if err != nil {
		t.Fatal(err)
	}
	w, err := StartWindow(ctx, cli, prefix+"in/", everyEvent, WindowOptions{Progress: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	told := make(chan uint64, 100)
	w.SetProgress(func(rev uint64) {
		select {
		case told <- rev:
		default:
		}
	})
	if err := w.Wait(ctx, in.Header.Revision, true); err != nil {
		t.Fatal(err)
	}
	out, err := cli.Put(ctx, prefix+"out/k", "1")
	if err != nil {
		t.Fatal(err)
	}
	// Asked for, the progress reaches a revision outside the prefix.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := w.Wait(wctx, out.Header.Revision, true); err != nil {
		t.Fatalf("waiting for a revision written outside the prefix: %v", err)
	}
	// Unasked, the window's own requests move it on and it tells.
	later, err := cli.Put(ctx, prefix+"out/k", "2")
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(0); rev < uint64(later.Header.Revision); {
		select {
		case rev = <-told:
		case <-ctx.Done():
			t.Fatalf("the window never told a progress at or past %d", later.Header.Revision)
		}
	}
	got, _, head := w.Since(uint64(in.Header.Revision), 10)
	if len(got) != 0 || head < uint64(later.Header.Revision) {
		t.Errorf("Since(%d) = %v, head %d; want no entry and the progress, at least %d", in.Header.Revision, got, head, later.Header.Revision)
	}
	// A subscriber resuming at the progress is not ahead of the head.
	if _, _, head := w.Since(uint64(later.Header.Revision), 10); head < uint64(later.Header.Revision) {
		t.Errorf("Since(%d) reports head %d: the subscriber would be told it is ahead", later.Header.Revision, head)
	}
}

// TestWindowFollowsWritesElsewhere: a write under another prefix of the
// same cluster (certmgr's, when this is the deploytracker's window) moves
// etcd's revision past everything the window's watch carries; the window
// learns it has caught up from a progress notification it asks for, so
// Head answers rather than waiting for a write of its own prefix.
func TestWindowFollowsWritesElsewhere(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	_, other := testetcd.Client(t)
	// Not a timed assertion: the bound only keeps a broken window from
	// hanging the test (etcd's own progress notifications come every 10
	// minutes).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	own, err := cli.Put(ctx, prefix+"k", "1")
	if err != nil {
		t.Fatal(err)
	}
	w, err := StartWindow(ctx, cli, prefix, everyEvent, WindowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := cli.Put(ctx, other+"k", "1"); err != nil {
		t.Fatal(err)
	}
	head, err := w.Head(ctx)
	if err != nil {
		t.Fatalf("Head after a write under another prefix: %v", err)
	}
	if head != uint64(own.Header.Revision) {
		t.Errorf("Head = %d, want %d, the revision of the prefix's last write", head, own.Header.Revision)
	}
}
