package changefeed

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrStalled is wrapped by Watchdog.Run's error when one message waited too
// long to go out: the subscriber stopped reading.
var ErrStalled = errors.New("the subscriber read nothing while a message waited to go out")

// StallError is Watchdog.Run's error for a subscriber it cut off.
type StallError struct {
	// Stall is how long the message waited at least.
	Stall time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("stream closed: it read nothing for %v while a message waited, and the server does not hold messages for a stalled subscriber; reconnect with from_revision to resume", e.Stall)
}

// Unwrap makes errors.Is(err, ErrStalled) hold.
func (e *StallError) Unwrap() error { return ErrStalled }

// Watchdog cuts off a subscriber that stops reading. Its bounded buffer
// keeps writers from waiting on it, but the stream still holds what it was
// sending when it stalled, and a snapshot can be the whole store: a
// thousand stalled subscribers would hold a thousand copies. A stalled
// subscriber is therefore ended after Options.Stall, freeing that memory
// and its place under Limits; it resumes from its revision when it
// reconnects, so it loses nothing.
type Watchdog struct {
	// since is when the send in progress began (Unix nanoseconds), 0 when
	// none is.
	since atomic.Int64
}

// Send runs one blocking send of one message, timed.
func (w *Watchdog) Send(send func() error) error {
	w.since.Store(time.Now().UnixNano())
	err := send()
	w.since.Store(0)
	return err
}

// Run runs follow in its own goroutine and returns its error, or a
// *StallError once a send has been blocked for longer than stall (default
// 1 minute). After a StallError, follow is still blocked in that send: the
// caller must end the send's stream, as a gRPC handler does by returning,
// for follow to end.
func (w *Watchdog) Run(stall time.Duration, follow func() error) error {
	if stall <= 0 {
		stall = DefaultStall
	}
	done := make(chan error, 1)
	go func() { done <- follow() }()
	// Checking four times per stall ends a stalled subscriber within 1.25
	// stall at one wake-up per stall/4 for every stream.
	tick := time.NewTicker(stall / 4)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case now := <-tick.C:
			if since := w.since.Load(); since != 0 && now.Sub(time.Unix(0, since)) > stall {
				return &StallError{Stall: stall}
			}
		}
	}
}
