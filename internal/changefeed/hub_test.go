package changefeed

import (
	"slices"
	"testing"
)

type rev uint64

func (r rev) Rev() uint64 { return uint64(r) }

// received takes what is buffered in a subscription without waiting and
// reports whether the channel was closed.
func received(s *subscription[rev]) (got []uint64, closed bool) {
	for {
		select {
		case r, ok := <-s.ch:
			if !ok {
				return got, true
			}
			got = append(got, uint64(*r))
		default:
			return got, false
		}
	}
}

func TestHubDeliversSparseRevisionsOnce(t *testing.T) {
	h := NewHub[rev](10)
	sub := h.subscribe(16)
	for _, r := range []rev{9, 10, 20, 20, 30, 25, 40} {
		h.Publish(r)
	}
	if got, _ := received(sub); !slices.Equal(got, []uint64{20, 30, 40}) {
		t.Errorf("delivered %v, want [20 30 40]: each once, nothing at or before the last delivered", got)
	}
	if h.Head() != 40 {
		t.Errorf("Head = %d, want 40", h.Head())
	}
}

func TestHubSubscribeSeesOnlyLaterChanges(t *testing.T) {
	h := NewHub[rev](0)
	h.Publish(10)
	sub := h.subscribe(16)
	h.Publish(20)
	if got, _ := received(sub); !slices.Equal(got, []uint64{20}) {
		t.Errorf("delivered %v, want [20]", got)
	}
}

func TestHubCutsOffFullSubscriber(t *testing.T) {
	h := NewHub[rev](0)
	slow := h.subscribe(2)
	fast := h.subscribe(100)
	for r := rev(1); r <= 5; r++ {
		h.Publish(r) // must not block on slow
	}
	got, closed := received(slow)
	if !slices.Equal(got, []uint64{1, 2}) || !closed {
		t.Errorf("slow subscriber got %v (closed %v), want [1 2] then a closed channel", got, closed)
	}
	if got, closed := received(fast); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) || closed {
		t.Errorf("fast subscriber got %v (closed %v), want 1..5 and still open", got, closed)
	}
	if n := h.Subscribers(); n != 1 {
		t.Errorf("Subscribers = %d, want 1", n)
	}
	h.unsubscribe(slow) // already cut off: no double close
	h.unsubscribe(fast)
	if _, closed := received(fast); !closed {
		t.Error("unsubscribe did not close the channel")
	}
	h.unsubscribe(fast)
	if n := h.Subscribers(); n != 0 {
		t.Errorf("Subscribers = %d, want 0", n)
	}
	h.Publish(6)
	if h.Head() != 6 {
		t.Errorf("Head = %d, want 6", h.Head())
	}
}

// TestHubProgressOnlyWhenCaughtUp: an idle subscriber is current at the
// hub's progress only once it has taken every change delivered to it, and
// never once it was cut off (it then catches up from the log).
func TestHubProgressOnlyWhenCaughtUp(t *testing.T) {
	h := NewHub[rev](20)
	s := h.subscribe(4)
	if got := h.current(s, 20); got != 20 {
		t.Errorf("no progress reported: current %d, want 20", got)
	}
	h.Publish(30)
	h.Progress(40)
	if got := h.current(s, 20); got != 20 {
		t.Errorf("change 30 not taken yet: current %d, want 20", got)
	}
	<-s.ch
	if got := h.current(s, 30); got != 40 {
		t.Errorf("every change taken: current %d, want the progress 40", got)
	}
	h.Progress(35) // never moves back
	if got := h.current(s, 30); got != 40 {
		t.Errorf("after an older progress: current %d, want 40", got)
	}
	h.Drop()
	if got := h.current(s, 30); got != 30 {
		t.Errorf("cut off: current %d, want its own 30", got)
	}
}
