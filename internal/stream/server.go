package stream

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/grpcerr"
)

// Feed is what a stream reads from its store: the changelog and a
// snapshot of every item with the revision it reflects, read at one point
// in time.
type Feed[E changefeed.Revisioned, I any] interface {
	changefeed.Log[E]
	Snapshot() ([]I, uint64, error)
}

// Codec is what a service supplies to serve its stream: E is its changelog
// entry, I its snapshot item, B what is built once per change or item for
// every subscriber (Shared), M its stream's message.
type Codec[E changefeed.Revisioned, I, B, M any] interface {
	// Places returns where a change's item was before it and is after it
	// (nil where it did not or no longer exists).
	Places(e E) (before, after *changefeed.Place)
	// Current builds what a change into a subscriber's scope sends, from
	// the item as it is now: if it has moved on since the change, a later
	// change for it follows. It returns where the item is now, nil when it
	// is gone (a delete follows) or cannot be sent.
	Current(e E) (*changefeed.Place, B)
	// ItemPlace returns where a snapshot item is.
	ItemPlace(i I) *changefeed.Place
	// ItemKey names the version of a snapshot item (its id and revision):
	// items of one key are built once. "" builds it for each subscriber.
	ItemKey(i I) string
	// Build builds what a snapshot item sends; false leaves it out.
	Build(i I) (B, bool)
	// Change, Item, Resync, SnapshotComplete and Heartbeat make the
	// stream's messages.
	Change(e E, t changefeed.Transition, b B) M
	Item(b B) M
	Resync(reason string, requested, oldest uint64, epoch string) M
	SnapshotComplete(rev uint64, epoch string) M
	Heartbeat(rev uint64, epoch string) M
}

// Config is what a Server needs besides its feed and codec.
type Config struct {
	// What the stream carries, as the refusal of an account key says it:
	// "account keys may not " + What.
	What string
	// Options tune changefeed.Follow.
	Options changefeed.Options
	// Admission bounds the open streams.
	Admission *changefeed.Admission
	// Status maps an error to the status the client gets: the service's
	// error mapper.
	Status func(ctx context.Context, err error) error
}

// built is what a change or snapshot item sends, shared by subscribers.
type built[B any] struct {
	place *changefeed.Place
	b     B
	ok    bool
}

// Change is a changelog entry as the hub delivers it and the log is read:
// with the Memo its subscribers share.
type Change[E changefeed.Revisioned, B any] struct {
	Entry E
	memo  *Memo[built[B]]
}

// Rev returns the entry's revision.
func (c Change[E, B]) Rev() uint64 { return c.Entry.Rev() }

// Server serves one change stream.
type Server[E changefeed.Revisioned, I, B, M any] struct {
	feed  Feed[E, I]
	codec Codec[E, I, B, M]
	cfg   Config
	hub   *changefeed.Hub[Change[E, B]]
	// changes holds what each change sends, by revision, and items what
	// each snapshot item sends, by ItemKey (see Shared for how long).
	changes Shared[uint64, built[B]]
	items   Shared[string, built[B]]
}

// NewServer returns a server of a feed whose store has committed
// everything up to head. The store's publisher must call Publish.
func NewServer[E changefeed.Revisioned, I, B, M any](feed Feed[E, I], codec Codec[E, I, B, M], head uint64, cfg Config) *Server[E, I, B, M] {
	return &Server[E, I, B, M]{feed: feed, codec: codec, cfg: cfg, hub: changefeed.NewHub[Change[E, B]](head)}
}

// Publish hands a committed change to the subscribers, in commit order
// (see changefeed.Hub.Publish).
func (s *Server[E, I, B, M]) Publish(e E) {
	s.hub.Publish(Change[E, B]{Entry: e, memo: s.changes.Memo(e.Rev())})
}

// Progress tells the subscribers that every change up to rev has been
// published (see changefeed.Hub.Progress): their heartbeats carry it.
func (s *Server[E, I, B, M]) Progress(rev uint64) { s.hub.Progress(rev) }

// Drop cuts off every subscriber from the live changes (see
// changefeed.Hub.Drop): each catches up from the log again.
func (s *Server[E, I, B, M]) Drop() { s.hub.Drop() }

// Subscribers returns how many subscribers follow the live changes.
func (s *Server[E, I, B, M]) Subscribers() int { return s.hub.Subscribers() }

// Head returns the last revision handed to the subscribers.
func (s *Server[E, I, B, M]) Head() uint64 { return s.hub.Head() }

// Serve streams the changes after from that the caller may see, within
// what req asks for, to send, until the stream's context ends or a send
// fails. It returns the status the stream ends with.
func (s *Server[E, I, B, M]) Serve(ctx context.Context, req Request, from changefeed.Position, send func(M) error) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	sc, err := ScopeFor(p, req, s.cfg.What)
	if err != nil {
		return s.cfg.Status(ctx, err)
	}
	release, err := s.cfg.Admission.Acquire(p.KeyID, connID(ctx))
	if err != nil {
		return s.cfg.Status(ctx, err)
	}
	defer release()
	var dog changefeed.Watchdog
	w := &sink[E, I, B, M]{s: s, scope: sc, dog: &dog, send: send}
	err = dog.Run(s.cfg.Options.Stall, func() error {
		return changefeed.Follow(ctx, s.hub, changeLog[E, I, B, M]{s}, w, from, s.cfg.Options)
	})
	if !errors.Is(err, changefeed.ErrStalled) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.Canceled) {
		// The stream ended because its context did: say so whatever the
		// follower's error was.
		if st, ok := grpcerr.FromContext(ctx.Err()); ok {
			return st
		}
	}
	return s.cfg.Status(ctx, err)
}

// connID names the gRPC connection a stream arrived on, for the limit per
// connection: the two ends of a TCP connection are unique while it is
// open, and every stream on it ends when it closes.
func connID(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	id := p.Addr.String()
	if p.LocalAddr != nil {
		id += " " + p.LocalAddr.String()
	}
	return id
}

// changeLog reads the feed's changelog as Changes, each with the Memo
// subscribers already share for its revision, if any.
type changeLog[E changefeed.Revisioned, I, B, M any] struct {
	s *Server[E, I, B, M]
}

func (l changeLog[E, I, B, M]) ChangesSince(rev uint64, limit int) ([]Change[E, B], uint64, uint64, error) {
	entries, compacted, head, err := l.s.feed.ChangesSince(rev, limit)
	out := make([]Change[E, B], len(entries))
	for i, e := range entries {
		out[i] = Change[E, B]{Entry: e, memo: l.s.changes.Memo(e.Rev())}
	}
	return out, compacted, head, err
}

func (l changeLog[E, I, B, M]) Epoch() string { return l.s.feed.Epoch() }

// sink writes one subscriber's stream.
type sink[E changefeed.Revisioned, I, B, M any] struct {
	s     *Server[E, I, B, M]
	scope changefeed.Scope
	dog   *changefeed.Watchdog
	send  func(M) error
}

func (w *sink[E, I, B, M]) write(m M) error {
	return w.dog.Send(func() error { return w.send(m) })
}

func (w *sink[E, I, B, M]) Resync(reason string, requested, oldest uint64) error {
	return w.write(w.s.codec.Resync(reason, requested, oldest, w.s.feed.Epoch()))
}

func (w *sink[E, I, B, M]) Snapshot() (uint64, error) {
	list, rev, err := w.s.feed.Snapshot()
	if err != nil {
		return 0, err
	}
	c := w.s.codec
	// The Memo of every item still to send is held until it is sent, so
	// that subscribers taking snapshots at the same time build each item
	// once.
	memos := make([]*Memo[built[B]], len(list))
	for i, it := range list {
		if !w.scope.Contains(c.ItemPlace(it)) {
			continue
		}
		if k := c.ItemKey(it); k != "" {
			memos[i] = w.s.items.Memo(k)
		} else {
			memos[i] = &Memo[built[B]]{}
		}
	}
	for i, it := range list {
		m := memos[i]
		// What is sent is let go, so that a subscriber that stalls
		// part-way holds only the rest until its watchdog ends it.
		list[i], memos[i] = *new(I), nil
		if m == nil {
			continue
		}
		b := m.Get(func() built[B] {
			b, ok := c.Build(it)
			return built[B]{b: b, ok: ok}
		})
		if !b.ok {
			continue
		}
		if err := w.write(c.Item(b.b)); err != nil {
			return 0, err
		}
	}
	return rev, w.write(c.SnapshotComplete(rev, w.s.feed.Epoch()))
}

// Change sends a change to an item in scope after it (built from the item
// as it is now, and only if it is still in scope), or in scope before it
// (then without what Current builds).
func (w *sink[E, I, B, M]) Change(ch Change[E, B]) error {
	c := w.s.codec
	t := w.scope.Transit(c.Places(ch.Entry))
	var b B
	switch t {
	case changefeed.Outside:
		return nil
	case changefeed.Stays, changefeed.Enters:
		cur := ch.memo.Get(func() built[B] {
			place, b := c.Current(ch.Entry)
			return built[B]{place: place, b: b, ok: place != nil}
		})
		if !cur.ok || !w.scope.Contains(cur.place) {
			// Gone since, or moved out of the scope: the change that did
			// it follows.
			return nil
		}
		b = cur.b
	}
	return w.write(c.Change(ch.Entry, t, b))
}

func (w *sink[E, I, B, M]) Heartbeat(rev uint64) error {
	return w.write(w.s.codec.Heartbeat(rev, w.s.feed.Epoch()))
}

// RevisionKey is an ItemKey of an item's id and the revision of its last
// write.
func RevisionKey(id string, rev uint64) string {
	return id + "@" + strconv.FormatUint(rev, 10)
}
