package watch

import (
	"errors"
	"testing"
)

func TestPositionNext(t *testing.T) {
	var (
		rs = func(epoch string) event { return event{kind: resync, epoch: epoch} }
		it = event{kind: snapshotItem}
		sc = func(rev uint64, epoch string) event {
			return event{kind: snapshotComplete, revision: rev, epoch: epoch}
		}
		ch = func(rev uint64) event { return event{kind: change, revision: rev} }
		hb = func(rev uint64, epoch string) event { return event{kind: heartbeat, revision: rev, epoch: epoch} }
	)
	for _, tc := range []struct {
		name   string
		from   position
		events []event
		// bad is the index of the event refused, or -1.
		bad  int
		want position
	}{
		{"a first snapshot and sparse changes", position{}, []event{rs("e1"), it, it, sc(3, "e1"), ch(10), ch(11), hb(11, "e1"), hb(25, "e1"), ch(40)}, -1, position{revision: 40, epoch: "e1"}},
		{"a resumed stream with sparse changes", position{revision: 7, epoch: "e1"}, []event{ch(9), hb(9, "e1"), ch(1 << 40)}, -1, position{revision: 1 << 40, epoch: "e1"}},
		{"a heartbeat at the revision applied", position{revision: 7, epoch: "e1"}, []event{hb(7, "e1"), hb(7, "")}, -1, position{revision: 7, epoch: "e1"}},
		{"a snapshot at the revision applied", position{revision: 7, epoch: "e1"}, []event{rs("e1"), sc(7, "e1")}, -1, position{revision: 7, epoch: "e1"}},
		{"a snapshot of a new epoch behind", position{revision: 30, epoch: "e1"}, []event{rs("e2"), it, sc(4, "e2"), ch(5)}, -1, position{revision: 5, epoch: "e2"}},
		{"a snapshot of a server without epochs", position{revision: 3}, []event{rs(""), sc(9, "")}, -1, position{revision: 9}},
		{"a resync again mid-snapshot", position{}, []event{rs("e1"), it, rs("e1"), it, sc(5, "e1")}, -1, position{revision: 5, epoch: "e1"}},
		{"an unknown event", position{revision: 2, epoch: "e1"}, []event{{kind: unknown, revision: 1}}, -1, position{revision: 2, epoch: "e1"}},

		{"a change at the revision applied", position{revision: 7, epoch: "e1"}, []event{ch(8), ch(8)}, 1, position{revision: 8, epoch: "e1"}},
		{"a change below the revision applied", position{revision: 7, epoch: "e1"}, []event{ch(6)}, 0, position{revision: 7, epoch: "e1"}},
		{"a change at revision 0 of a new stream", position{}, []event{ch(0)}, 0, position{}},
		{"a heartbeat going back", position{revision: 7, epoch: "e1"}, []event{hb(6, "e1")}, 0, position{revision: 7, epoch: "e1"}},
		{"a heartbeat of another epoch", position{revision: 7, epoch: "e1"}, []event{hb(7, "e2")}, 0, position{revision: 7, epoch: "e1"}},
		{"a heartbeat with an epoch on a stream without", position{revision: 7}, []event{hb(7, "e1")}, 0, position{revision: 7}},
		{"a heartbeat inside a snapshot", position{revision: 7, epoch: "e1"}, []event{rs("e1"), hb(9, "e1")}, 1, position{revision: 7, epoch: "e1", inSnapshot: true, announced: "e1"}},
		{"a snapshot behind within its epoch", position{revision: 7, epoch: "e1"}, []event{rs("e1"), it, sc(6, "e1")}, 2, position{revision: 7, epoch: "e1", inSnapshot: true, announced: "e1"}},
		{"a snapshot ending in another epoch than its resync", position{revision: 7, epoch: "e1"}, []event{rs("e2"), sc(9, "e3")}, 1, position{revision: 7, epoch: "e1", inSnapshot: true, announced: "e2"}},
		{"a change inside a snapshot", position{}, []event{rs("e1"), ch(1)}, 1, position{inSnapshot: true, announced: "e1"}},
		{"a snapshot item outside a snapshot", position{revision: 7, epoch: "e1"}, []event{it}, 0, position{revision: 7, epoch: "e1"}},
		{"a snapshot end without a snapshot", position{revision: 7, epoch: "e1"}, []event{sc(9, "e1")}, 0, position{revision: 7, epoch: "e1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, bad := tc.from, -1
			for i, ev := range tc.events {
				next, err := p.next(ev)
				if err != nil {
					if !errors.Is(err, errProtocol) || next != p {
						t.Fatalf("event %d: %v, position %+v (want a protocol error and %+v unchanged)", i, err, next, p)
					}
					bad = i
					break
				}
				p = next
			}
			if bad != tc.bad || p != tc.want {
				t.Errorf("refused event %d at %+v, want event %d at %+v", bad, p, tc.bad, tc.want)
			}
		})
	}
}

// FuzzPositionNext runs any sequence of events through the order check
// and holds it to the protocol: what it accepts moves forward within an
// epoch, changes strictly, and what it refuses leaves the position as it
// was.
func FuzzPositionNext(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 3, 3, 1, 4, 9, 0, 5, 9, 1, 4, 3, 0})
	f.Add([]byte{1, 1, 1, 2, 0, 0, 3, 2, 2, 4, 1, 0, 5, 0, 2})
	epochs := []string{"", "e1", "e2"}
	f.Fuzz(func(t *testing.T, script []byte) {
		var p position
		if len(script) > 0 {
			p.revision, script = uint64(script[0]), script[1:]
		}
		if p.revision > 0 {
			p.epoch = "e1"
		}
		for len(script) >= 3 {
			ev := event{kind: kind(script[0] % 7), revision: uint64(script[1]), epoch: epochs[int(script[2])%len(epochs)]}
			script = script[3:]
			next, err := p.next(ev)
			if err != nil {
				if !errors.Is(err, errProtocol) || next != p {
					t.Fatalf("%+v at %+v: %v, position %+v (want a protocol error and the position unchanged)", ev, p, err, next)
				}
				continue
			}
			switch ev.kind {
			case change:
				if p.inSnapshot || next.revision != ev.revision || ev.revision <= p.revision || next.epoch != p.epoch {
					t.Fatalf("change %+v accepted at %+v: %+v", ev, p, next)
				}
			case heartbeat:
				if p.inSnapshot || next.revision < p.revision || next.epoch != p.epoch || (ev.epoch != "" && ev.epoch != p.epoch) {
					t.Fatalf("heartbeat %+v accepted at %+v: %+v", ev, p, next)
				}
			case snapshotComplete:
				if !p.inSnapshot || next.inSnapshot || next.epoch != ev.epoch || next.revision != ev.revision ||
					(ev.epoch == p.epoch && ev.revision < p.revision) {
					t.Fatalf("snapshot end %+v accepted at %+v: %+v", ev, p, next)
				}
			case snapshotItem:
				if !p.inSnapshot || next != p {
					t.Fatalf("snapshot item accepted at %+v: %+v", p, next)
				}
			case resync:
				if !next.inSnapshot || next.revision != p.revision || next.epoch != p.epoch {
					t.Fatalf("resync %+v at %+v: %+v", ev, p, next)
				}
			default:
				if next != p {
					t.Fatalf("unknown event %+v moved %+v to %+v", ev, p, next)
				}
			}
			p = next
		}
	})
}
