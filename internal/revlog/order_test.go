package revlog

import (
	"slices"
	"testing"
)

type rev uint64

func (r rev) Rev() uint64 { return uint64(r) }

func TestInOrder(t *testing.T) {
	var got []uint64
	o := NewInOrder[rev](10, func(r rev) { got = append(got, uint64(r)) })
	for _, r := range []rev{9, 10, 13, 11, 11, 12, 15, 14, 12} {
		o.Add(r)
	}
	if want := []uint64{11, 12, 13, 14, 15}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v (in order, each once, nothing at or before the head)", got, want)
	}
}
