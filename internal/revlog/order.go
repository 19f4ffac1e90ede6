package revlog

import "sync"

// InOrder hands changes to a receiver in revision order. A bbolt store's
// commits finish in revision order but run their OnCommit handlers after
// the write lock is released, so two handlers may race; a Log's revisions
// are consecutive, so InOrder holds a change back until every earlier
// revision has been handed on. A store whose commits report their changes
// in order (etcd's watch) needs none of this.
type InOrder[T interface{ Rev() uint64 }] struct {
	mu      sync.Mutex
	next    uint64       // the revision handed on next
	pending map[uint64]T // arrived early, waiting for next
	deliver func(T)
}

// NewInOrder returns an InOrder for a log whose last committed revision is
// head. deliver is called with the lock held, so calls never overlap; it
// must not block.
func NewInOrder[T interface{ Rev() uint64 }](head uint64, deliver func(T)) *InOrder[T] {
	return &InOrder[T]{next: head + 1, pending: map[uint64]T{}, deliver: deliver}
}

// Add takes a committed change. Revisions already handed on are ignored.
func (o *InOrder[T]) Add(c T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c.Rev() < o.next {
		return
	}
	o.pending[c.Rev()] = c
	for {
		c, ok := o.pending[o.next]
		if !ok {
			return
		}
		delete(o.pending, o.next)
		o.next++
		o.deliver(c)
	}
}
