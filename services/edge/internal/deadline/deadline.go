// Package deadline keeps a connection's read deadline coarse: moved only
// when it is early, or later than wanted by more than its slack, so that a
// busy connection updates its timer about once per slack instead of on
// every request. A timeout then comes at most the slack late.
package deadline

import (
	"net"
	"time"
)

// Read is the read deadline set on one connection; the zero value is
// none. It is used by one goroutine at a time.
type Read struct{ at time.Time }

// By sets c's read deadline to wait after now, or leaves the one set if it
// is up to Slack(wait) later than that.
func (d *Read) By(c net.Conn, now time.Time, wait time.Duration) {
	want := now.Add(wait)
	slack := Slack(wait)
	if !d.at.IsZero() && !d.at.Before(want) && d.at.Sub(want) <= slack {
		return
	}
	d.at = want.Add(slack)
	c.SetReadDeadline(d.at)
}

// Clear removes c's read deadline, if one is set.
func (d *Read) Clear(c net.Conn) {
	if !d.at.IsZero() {
		d.at = time.Time{}
		c.SetReadDeadline(time.Time{})
	}
}

// Cleared records that c's read deadline was removed by other means.
func (d *Read) Cleared() { d.at = time.Time{} }

// Set reports whether a deadline is set.
func (d *Read) Set() bool { return !d.at.IsZero() }

// Slack is how late a timeout of wait may come: an eighth of it, and at
// most a second.
func Slack(wait time.Duration) time.Duration { return min(wait/8, time.Second) }
