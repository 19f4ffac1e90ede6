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

func TestHubReorders(t *testing.T) {
	h := NewHub[rev](0)
	sub := h.subscribe(16)

	h.Publish(3)
	if got, _ := received(sub); len(got) != 0 || h.Head() != 0 {
		t.Fatalf("after publishing 3 alone: delivered %v, head %d; want nothing, 0", got, h.Head())
	}
	h.Publish(1)
	h.Publish(2)
	h.Publish(2) // duplicates, delivered or not, are ignored
	h.Publish(1)
	h.Publish(5)
	h.Publish(5)
	if got, closed := received(sub); !slices.Equal(got, []uint64{1, 2, 3}) || closed {
		t.Fatalf("delivered %v (closed %v), want [1 2 3]", got, closed)
	}
	if h.Head() != 3 {
		t.Errorf("Head = %d, want 3", h.Head())
	}
	h.Publish(4)
	h.Publish(3)
	if got, _ := received(sub); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("delivered %v, want [4 5]", got)
	}
	if h.Head() != 5 {
		t.Errorf("Head = %d, want 5", h.Head())
	}
}

func TestHubStartsAfterHead(t *testing.T) {
	h := NewHub[rev](10)
	sub := h.subscribe(16)
	h.Publish(9)
	h.Publish(10)
	h.Publish(11)
	if got, _ := received(sub); !slices.Equal(got, []uint64{11}) {
		t.Errorf("delivered %v, want [11]", got)
	}
}

func TestHubSubscribeSeesOnlyLaterChanges(t *testing.T) {
	h := NewHub[rev](0)
	h.Publish(1)
	h.Publish(3) // pending until 2
	sub := h.subscribe(16)
	h.Publish(2)
	if got, _ := received(sub); !slices.Equal(got, []uint64{2, 3}) {
		t.Errorf("delivered %v, want [2 3]", got)
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
