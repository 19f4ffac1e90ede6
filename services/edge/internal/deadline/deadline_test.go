package deadline

import (
	"net"
	"testing"
	"time"
)

// recordConn records the read deadlines set on it.
type recordConn struct {
	net.Conn
	set []time.Time
}

func (c *recordConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

func TestRead(t *testing.T) {
	const wait = 8 * time.Second // slack: 1s
	c := &recordConn{}
	var d Read
	t0 := time.Unix(1000, 0)
	d.By(c, t0, wait)
	if len(c.set) != 1 || !c.set[0].Equal(t0.Add(9*time.Second)) {
		t.Fatalf("first By set %v, want one deadline at now+wait+slack", c.set)
	}
	// Within the slack: left as it is, and never early.
	for _, later := range []time.Duration{0, 500 * time.Millisecond, time.Second} {
		d.By(c, t0.Add(later), wait)
	}
	if len(c.set) != 1 {
		t.Fatalf("By within the slack moved the deadline: %v", c.set)
	}
	// Past it: the deadline would be early, so it moves.
	d.By(c, t0.Add(1500*time.Millisecond), wait)
	if len(c.set) != 2 || !c.set[1].Equal(t0.Add(10500*time.Millisecond)) {
		t.Fatalf("By past the slack set %v", c.set)
	}
	// A shorter wait makes the deadline too late by more than its slack.
	d.By(c, t0.Add(1500*time.Millisecond), time.Second)
	if len(c.set) != 3 || !c.set[2].Equal(t0.Add(2625*time.Millisecond)) {
		t.Fatalf("By with a shorter wait set %v", c.set)
	}
	d.Clear(c)
	d.Clear(c)
	if len(c.set) != 4 || !c.set[3].IsZero() || d.Set() {
		t.Fatalf("Clear twice set %v, want one zero deadline", c.set)
	}
	d.By(c, t0, wait)
	d.Cleared()
	d.By(c, t0, wait)
	if len(c.set) != 6 {
		t.Fatalf("By after Cleared did not set the deadline again: %v", c.set)
	}
	if got := Slack(time.Minute); got != time.Second {
		t.Errorf("Slack(1m) = %v, want 1s", got)
	}
}
