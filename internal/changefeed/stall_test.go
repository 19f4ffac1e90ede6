package changefeed

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWatchdogCutsOffABlockedSend(t *testing.T) {
	var w Watchdog
	unblock := make(chan struct{})
	ended := make(chan error, 1)
	start := time.Now()
	err := w.Run(100*time.Millisecond, func() error {
		err := w.Send(func() error { <-unblock; return errors.New("stream closed") })
		ended <- err
		return err
	})
	var stall *StallError
	if !errors.As(err, &stall) || !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "read nothing for 100ms") {
		t.Fatalf("got %v, want ErrStalled", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("cut off after %v, want just over 100ms", d)
	}
	// The caller ends the stream; the blocked send and follow then end.
	close(unblock)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end once its send did")
	}
}

func TestWatchdogLeavesProgressAlone(t *testing.T) {
	var w Watchdog
	want := errors.New("done")
	err := w.Run(100*time.Millisecond, func() error {
		// Many quick sends over several stall periods, then a pause that
		// is not a send: neither is a stall.
		for range 30 {
			if err := w.Send(func() error { time.Sleep(10 * time.Millisecond); return nil }); err != nil {
				return err
			}
		}
		time.Sleep(300 * time.Millisecond)
		return want
	})
	if err != want {
		t.Fatalf("got %v, want follow's own error", err)
	}
}
