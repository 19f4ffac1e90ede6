package changefeed

import (
	"errors"
	"strings"
	"testing"
)

func TestAdmission(t *testing.T) {
	type open struct{ key, conn string }
	tests := []struct {
		name   string
		limits Limits
		held   []open
		next   open
		want   string // "" admits
	}{
		{"under every limit", Limits{PerKey: 2, PerConn: 2, Total: 2}, []open{{"k1", "c1"}}, open{"k1", "c1"}, ""},
		{"key at its limit", Limits{PerKey: 2}, []open{{"k1", "c1"}, {"k1", "c2"}}, open{"k1", "c3"},
			"this key already has 2 open streams (the limit per key); close unused edges or raise --max-streams-per-key"},
		{"another key", Limits{PerKey: 2}, []open{{"k1", "c1"}, {"k1", "c2"}}, open{"k2", "c3"}, ""},
		{"connection at its limit", Limits{PerConn: 2}, []open{{"k1", "c1"}, {"k2", "c1"}}, open{"k3", "c1"},
			"this connection already has 2 open streams (the limit per connection); open another connection or raise --max-streams-per-conn"},
		{"total at its limit", Limits{Total: 2}, []open{{"k1", "c1"}, {"k2", "c2"}}, open{"k3", "c3"},
			"the server already has 2 open streams (its limit in total); retry later, close unused edges or raise --max-streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAdmission(tt.limits)
			var releases []func()
			for _, o := range tt.held {
				release, err := a.Acquire(o.key, o.conn)
				if err != nil {
					t.Fatalf("acquire %v: %v", o, err)
				}
				releases = append(releases, release)
			}
			_, err := a.Acquire(tt.next.key, tt.next.conn)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrTooManyStreams) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			// Releasing one place, twice, admits exactly one more.
			releases[0]()
			releases[0]()
			if _, err := a.Acquire(tt.next.key, tt.next.conn); err != nil {
				t.Fatalf("refused after a release: %v", err)
			}
			if _, err := a.Acquire(tt.next.key, tt.next.conn); err == nil || !strings.Contains(err.Error(), "already has 2") {
				t.Fatalf("a double release freed two places: %v", err)
			}
		})
	}
}

func TestAdmissionDefaultsAndCleanup(t *testing.T) {
	a := NewAdmission(Limits{})
	if got := a.Limits(); got != (Limits{PerKey: 64, Total: 4096, PerConn: 256}) {
		t.Fatalf("defaults %+v", got)
	}
	release, err := a.Acquire("k", "c")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if total, forKey := a.Open("k"); total != 0 || forKey != 0 || len(a.byKey) != 0 || len(a.byConn) != 0 {
		t.Fatalf("after release: total %d, key %d, %d keys and %d connections kept", total, forKey, len(a.byKey), len(a.byConn))
	}
}
