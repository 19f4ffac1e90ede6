package certs

import (
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	t.Run("is a valid id", func(t *testing.T) {
		for range 100 {
			id := NewID()
			if err := checkID(id); err != nil {
				t.Fatalf("NewID made %q, which checkID refuses: %v", id, err)
			}
		}
	})

	t.Run("sorts by the time it was made", func(t *testing.T) {
		base := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
		times := []time.Time{
			time.Unix(0, 0),
			base,
			base.Add(time.Millisecond),
			base.Add(16 * time.Millisecond), // carries into the next character
			base.Add(time.Hour),
			time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		var prev string
		for _, at := range times {
			id := newIDAt(at)
			if err := checkID(id); err != nil {
				t.Fatalf("the id made at %s, %q, is refused: %v", at, id, err)
			}
			if id <= prev {
				t.Errorf("the id made at %s, %q, does not sort after %q", at, id, prev)
			}
			prev = id
		}
	})

	t.Run("spells the millisecond in its first characters", func(t *testing.T) {
		// The hex digits 1 9 a 2 b 3 c 4 d 5 e are the letters b j k c l d
		// m e n f o.
		at := time.UnixMilli(0x1_9a2b_3c4d_5e)
		id := newIDAt(at)
		if got, want := id[:len(idPrefix)+idTimeChars], "crt_bjkcldmenfo"; got != want {
			t.Errorf("the id made at %#x ms begins %q, want %q", at.UnixMilli(), got, want)
		}
	})

	t.Run("ids of the same millisecond differ", func(t *testing.T) {
		at := time.Now()
		seen := map[string]bool{}
		for range 10000 {
			id := newIDAt(at)
			if seen[id] {
				t.Fatalf("%q made twice", id)
			}
			seen[id] = true
		}
		// The random part uses the whole alphabet, not only the letters
		// the time is spelled with.
		var all strings.Builder
		for id := range seen {
			all.WriteString(id[len(idPrefix)+idTimeChars:])
		}
		for _, c := range idAlphabet {
			if !strings.ContainsRune(all.String(), c) {
				t.Errorf("no id's random part holds %q", c)
			}
		}
	})
}
