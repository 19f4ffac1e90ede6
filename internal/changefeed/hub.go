package changefeed

import "sync"

// Revisioned is a change with a revision. Revisions increase with every
// committed change, but not necessarily by one: a store may skip revisions
// (etcd's count every write to the cluster, not only this store's).
type Revisioned interface {
	Rev() uint64
}

// Hub fans committed changes out to subscribers, in revision order.
type Hub[T Revisioned] struct {
	mu   sync.Mutex
	head uint64 // the last revision delivered
	// progress is a revision up to which every change was delivered
	// (see Progress); 0 when the store reports none.
	progress uint64
	subs     map[*subscription[T]]struct{}
}

// NewHub returns a hub whose store has committed everything up to head.
func NewHub[T Revisioned](head uint64) *Hub[T] {
	return &Hub[T]{head: head, subs: map[*subscription[T]]struct{}{}}
}

// Publish hands a committed change to the hub, which delivers it at once.
// It never blocks on a subscriber. Changes must be published in commit
// order, and each once: the store puts them in that order (a bbolt store
// with revlog.InOrder), since only it knows whether a revision is still to
// come. A change at or before the last one delivered is ignored.
func (h *Hub[T]) Publish(c T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rev := c.Rev()
	if rev <= h.head {
		return // already delivered
	}
	h.head = rev
	// Every subscriber gets a pointer to this one copy: a buffer of
	// pointers costs 8 bytes a slot whatever the size of T, which is most
	// of an idle subscriber's memory. Nobody writes to a published change.
	shared := &c
	for s := range h.subs {
		select {
		case s.ch <- shared:
		default:
			// The subscriber is behind. Cutting it off keeps the writer
			// (the caller) from waiting; it resumes from the log.
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// Drop cuts off every subscriber, as an overflow does: each catches up
// from the log again. A store whose log started its history again (one
// that cannot replay what it missed) calls it after the log reports its
// new compaction point, so that a subscriber behind it resyncs rather
// than going on from the next change with a gap.
func (h *Hub[T]) Drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// Progress tells the hub that every change up to rev has been published:
// the store's revisions between the last change and rev hold none of its
// changes (etcd's revisions count every write to the cluster). An idle
// subscriber's heartbeat then carries rev, so its position keeps up with
// the store's revision and stays resumable after the store's history is
// compacted past its last change. Call it in order with Publish, after
// the changes up to rev; never after Drop for revisions the log no longer
// holds.
func (h *Hub[T]) Progress(rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress = max(h.progress, rev)
}

// current returns the revision an idle subscriber at last is current at:
// the hub's progress when the subscriber is still attached and has taken
// every change delivered to it (so it has every change up to the
// progress), else last.
func (h *Hub[T]) current(s *subscription[T], last uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok || len(s.ch) > 0 || h.progress <= last {
		return last
	}
	return h.progress
}

// Head returns the last revision the hub has delivered.
func (h *Hub[T]) Head() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// Subscribers returns how many subscribers are attached.
func (h *Hub[T]) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

type subscription[T Revisioned] struct {
	ch chan *T
}

// subscribe attaches a subscriber with a buffer of size n. Every change the
// hub delivers after this call, and only those, reach the channel until it is
// closed for overflow or by unsubscribe.
func (h *Hub[T]) subscribe(n int) *subscription[T] {
	s := &subscription[T]{ch: make(chan *T, n)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub[T]) unsubscribe(s *subscription[T]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}
