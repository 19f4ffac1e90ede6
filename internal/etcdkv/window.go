package etcdkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Revisioned is a change feed entry with its revision.
type Revisioned interface{ Rev() uint64 }

// Convert turns the events of one revision under a store's prefix into
// that store's feed entries, usually one or none (keys a feed ignores,
// such as indexes and metadata). An error means the events cannot be
// turned into entries (a delete whose previous value etcd no longer had):
// the window then starts its history again at the current revision, so
// subscribers behind it resync rather than miss a change.
type Convert[E Revisioned] func(rev int64, events []*clientv3.Event) ([]E, error)

// DefaultWindow is how many entries a Window keeps when its size is zero.
const DefaultWindow = 10000

// Window keeps the recent change feed entries of a store under a prefix in
// memory, fed by one watch of the prefix per replica (the watch cache of
// Kubernetes' API server): every entry after its compaction point is kept,
// so a subscriber at or after that point resumes from memory, on any
// replica. The compaction point is the revision the window started at
// (when the replica opened the store, or restarted its history after etcd
// compacted past its watch) or of the newest entry it dropped to stay
// within its size. Revisions are etcd's: they increase, not by one.
type Window[E Revisioned] struct {
	cli     *clientv3.Client
	prefix  string
	convert Convert[E]
	size    int
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	every   time.Duration // between progress requests

	mu         sync.Mutex
	entries    []E
	compacted  uint64 // every entry after it is kept
	head       uint64 // the newest entry's revision, or compacted
	progress   int64  // every change up to it has been turned into entries
	told       int64  // the last progress handed to progressed
	publish    func(E)
	progressed func(uint64)
	restarted  func()
	moved      chan struct{} // closed when progress moves
}

// WindowOptions configure a Window.
type WindowOptions struct {
	// Size is how many entries are kept; zero means DefaultWindow.
	Size int
	// Logger receives a line when the watch breaks or the history starts
	// again; nil discards them.
	Logger *slog.Logger
	// Progress is how often the window asks etcd for its watch's
	// progress, so that the progress moves on while nothing under the
	// prefix changes (see SetProgress); zero means DefaultProgress.
	Progress time.Duration
}

// DefaultProgress is WindowOptions.Progress's default: half the streams'
// default heartbeat interval, so that each heartbeat carries a revision
// at most about that old.
const DefaultProgress = 5 * time.Second

// StartWindow starts keeping the entries of the changes under prefix,
// replaying first what etcd still keeps of its history (up to the
// window's size), so that a replica that has just started serves
// subscribers resuming from any revision etcd has not compacted. Close
// stops it.
func StartWindow[E Revisioned](ctx context.Context, cli *clientv3.Client, prefix string, convert Convert[E], opts WindowOptions) (*Window[E], error) {
	if opts.Size <= 0 {
		opts.Size = DefaultWindow
	}
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	if opts.Progress <= 0 {
		opts.Progress = DefaultProgress
	}
	if _, err := currentRevision(ctx, cli, prefix); err != nil {
		return nil, Unavailable("read the current revision", prefix, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &Window[E]{cli: cli, prefix: prefix, convert: convert, size: opts.Size, log: opts.Logger,
		cancel: cancel, done: make(chan struct{}), moved: make(chan struct{}), every: opts.Progress}
	// The watch starts at revision 1: etcd answers with its compaction
	// point if it no longer has it, and the window starts there.
	go w.run(wctx)
	return w, nil
}

// currentRevision returns etcd's current revision, from a linearizable
// read of one key of the prefix (counted, not sent).
func currentRevision(ctx context.Context, cli *clientv3.Client, prefix string) (int64, error) {
	resp, err := cli.Get(ctx, prefix+"meta/epoch", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Close stops the watch; the window keeps what it holds.
func (w *Window[E]) Close() {
	w.cancel()
	<-w.done
}

// SetPublisher sets the function called with every entry the window takes
// in from now on, in revision order and never two at once, before a write
// waiting for its revision returns.
func (w *Window[E]) SetPublisher(fn func(E)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.publish = fn
}

// SetProgress sets the function called each time the window's progress
// moves, after every entry up to the new progress was handed to the
// publisher, in order with the publisher's calls and never two at once:
// etcd's revisions up to it hold no other change under the prefix. A
// stream's heartbeat carries it, so that an idle subscriber's position
// keeps up with etcd's revision and stays above its compaction. It is not
// called when the history starts again (see SetRestarted).
func (w *Window[E]) SetProgress(fn func(rev uint64)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.progressed = fn
}

// SetRestarted sets the function called each time the window starts its
// history again, after its new compaction point is set: live subscribers
// must then catch up from the window (changefeed.Hub.Drop), where one
// behind the new history resyncs.
func (w *Window[E]) SetRestarted(fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restarted = fn
}

// Since returns up to limit entries after rev, the compaction point and
// the head, from memory. The head is the window's progress when that is
// past its newest entry: etcd's revisions up to it hold no other entry. A
// rev past the progress (a subscriber resuming from a replica ahead of
// this one) waits, up to DefaultTimeout, for the window to take it in.
func (w *Window[E]) Since(rev uint64, limit int) (out []E, compacted, head uint64) {
	w.mu.Lock()
	behind := int64(rev) > w.progress
	w.mu.Unlock()
	if behind {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		// Still behind after the wait, the head says so and the
		// subscriber resyncs.
		_ = w.Wait(ctx, int64(rev), true)
		cancel()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	i := w.after(rev)
	n := min(limit, len(w.entries)-i)
	if n > 0 {
		out = append(out, w.entries[i:i+n]...)
	}
	return out, w.compacted, max(w.head, uint64(w.progress))
}

// after returns the index of the first entry after rev.
func (w *Window[E]) after(rev uint64) int {
	lo, hi := 0, len(w.entries)
	for lo < hi {
		m := (lo + hi) / 2
		if w.entries[m].Rev() <= rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Head returns the window's head once it has taken in every change up to
// etcd's current revision, so that it holds every write acknowledged
// before the call, by any replica.
func (w *Window[E]) Head(ctx context.Context) (uint64, error) {
	rev, err := currentRevision(ctx, w.cli, w.prefix)
	if err != nil {
		return 0, Unavailable("read the current revision", w.prefix, err)
	}
	if err := w.Wait(ctx, rev, true); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head, nil
}

// HeadAt returns the revision a read of the store at etcd revision rev
// reflects, in this window's terms: rev itself, once the window has taken
// in every change up to it (a subscriber then resumes from the window
// after rev, on any replica, and is never put back behind a heartbeat's
// revision). It waits until the window has taken in rev; false means the
// window started its history after rev, so the read should be made again.
func (w *Window[E]) HeadAt(ctx context.Context, rev int64) (uint64, bool, error) {
	if err := w.Wait(ctx, rev, true); err != nil {
		return 0, false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.compacted > uint64(rev) {
		return 0, false, nil
	}
	return uint64(rev), true, nil
}

// Wait returns once the window has taken in every change up to rev, or
// with ctx's error. With ask, it asks etcd for the watch's progress while
// it waits: a revision written outside the prefix brings no event.
func (w *Window[E]) Wait(ctx context.Context, rev int64, ask bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		w.mu.Lock()
		progress, moved := w.progress, w.moved
		w.mu.Unlock()
		if progress >= rev {
			return nil
		}
		if ask && first {
			w.requestProgress(ctx)
		}
		select {
		case <-moved:
		case <-tick.C:
			if ask {
				w.requestProgress(ctx)
			}
		case <-ctx.Done():
			return fmt.Errorf("this replica's change feed has not caught up with revision %d (it is at %d): %w (check that etcd is reachable)", rev, progress, ctx.Err())
		}
	}
}

func (w *Window[E]) requestProgress(ctx context.Context) {
	// The answer arrives on the watch as a progress notification; an
	// error here leaves the wait to its next tick or its deadline. The
	// client sends the request on the watch stream of the context's
	// metadata, so it carries the same require-leader mark as the watch:
	// without it the request goes to a stream with no watch and nothing
	// answers (the window then waited for a write of its own prefix, or
	// etcd's own notification every 10 minutes).
	_ = w.cli.RequestProgress(clientv3.WithRequireLeader(ctx))
}

// restart starts the history again after rev: the changes up to it are
// gone, so a subscriber behind it resyncs.
func (w *Window[E]) restart(rev int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entries = nil
	if uint64(rev) > w.compacted {
		w.compacted = uint64(rev)
	}
	if w.compacted > w.head {
		w.head = w.compacted
	}
	w.advance(rev)
}

// advance moves the progress to rev, waking waiters. Call with mu held.
func (w *Window[E]) advance(rev int64) {
	if rev <= w.progress {
		return
	}
	w.progress = rev
	close(w.moved)
	w.moved = make(chan struct{})
}

// run follows the prefix until ctx ends, watching again from its progress
// when the watch breaks and restarting the history when etcd compacted
// past it.
func (w *Window[E]) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		var rev int64
		var compacted *compactedError
		if errors.As(err, &compacted) || errors.Is(err, errRestart) {
			w.mu.Lock()
			first := w.progress == 0
			w.mu.Unlock()
			if !first {
				w.log.Warn("the change feed's history starts again: subscribers behind its new start resync",
					slog.String("prefix", w.prefix), slog.String("error", err.Error()))
			}
			for ctx.Err() == nil {
				if compacted != nil {
					// etcd still has every revision from its compaction
					// point on: the window replays them.
					rev, err = compacted.rev-1, nil
				} else {
					cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
					rev, err = currentRevision(cctx, w.cli, w.prefix)
					cancel()
				}
				if err == nil {
					w.restart(rev)
					w.mu.Lock()
					restarted := w.restarted
					w.mu.Unlock()
					if restarted != nil {
						restarted()
					}
					break
				}
				sleep(ctx, time.Second)
			}
			continue
		}
		w.log.Warn("the change feed's watch broke; watching again", slog.String("prefix", w.prefix), slog.Any("error", err))
		sleep(ctx, 200*time.Millisecond)
	}
}

var errRestart = errors.New("a change cannot be turned into an entry")

// compactedError is a watch refused because etcd compacted its history
// past the revision it started from; rev is etcd's compaction point, the
// oldest revision it still has.
type compactedError struct{ rev, from int64 }

func (e *compactedError) Error() string {
	return fmt.Sprintf("%v (compacted at %d, watching from %d)", rpctypes.ErrCompacted, e.rev, e.from)
}

func (e *compactedError) Unwrap() error { return rpctypes.ErrCompacted }

// watch watches from the progress on until the watch breaks.
func (w *Window[E]) watch(ctx context.Context) error {
	w.mu.Lock()
	from := w.progress + 1
	w.mu.Unlock()
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := w.cli.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(),
		clientv3.WithRev(from), clientv3.WithProgressNotify())
	// etcd notifies a watch's progress by itself only every 10 minutes
	// (by default): the window asks more often.
	every := w.every
	if every <= 0 {
		every = DefaultProgress
	}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
				w.requestProgress(wctx)
			}
		}
	}()
	for resp := range ch {
		if resp.CompactRevision != 0 {
			return &compactedError{rev: resp.CompactRevision, from: from}
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if err := w.take(resp); err != nil {
			return err
		}
	}
	return errors.New("the watch ended")
}

// take turns one watch response into entries, a revision at a time.
func (w *Window[E]) take(resp clientv3.WatchResponse) error {
	evs := resp.Events
	for len(evs) > 0 {
		rev := evs[0].Kv.ModRevision
		n := 1
		for n < len(evs) && evs[n].Kv.ModRevision == rev {
			n++
		}
		entries, err := w.convert(rev, evs[:n])
		if err != nil {
			return fmt.Errorf("%w: %w", errRestart, err)
		}
		w.mu.Lock()
		for _, e := range entries {
			w.entries = append(w.entries, e)
			w.head = e.Rev()
			if w.publish != nil {
				w.publish(e)
			}
		}
		// Trimming copies what is kept, so it waits until a quarter of
		// the size is over, not a copy per write.
		if over := len(w.entries) - w.size; over > w.size/4 {
			w.compacted = w.entries[over-1].Rev()
			w.entries = append(w.entries[:0:0], w.entries[over:]...)
		}
		w.advance(rev)
		w.mu.Unlock()
		evs = evs[n:]
	}
	if resp.IsProgressNotify() {
		w.mu.Lock()
		w.advance(resp.Header.Revision)
		w.mu.Unlock()
	}
	w.mu.Lock()
	if w.progressed != nil && w.progress > w.told {
		w.told = w.progress
		w.progressed(uint64(w.progress))
	}
	w.mu.Unlock()
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
