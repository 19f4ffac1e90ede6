package h1

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closeCount is an io.Closer that counts its Close calls.
type closeCount struct{ n atomic.Int32 }

func (c *closeCount) Close() error { c.n.Add(1); return nil }

// closedWithin waits briefly for c to have been closed want times: the
// fallback to context.AfterFunc closes on a goroutine of its own.
func closedWithin(t *testing.T, c *closeCount, want int32) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for c.n.Load() != want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := c.n.Load(); got != want {
		t.Errorf("closed %d times, want %d", got, want)
	}
}

func TestCloseOnDone(t *testing.T) {
	t.Run("closed when the connection's context ends", func(t *testing.T) {
		x := newConnContext()
		var cl closeCount
		r := CloseOnDone(x, &cl)
		if r.x == nil {
			t.Fatal("a connection's context fell back to context.AfterFunc")
		}
		x.end()
		closedWithin(t, &cl, 1)
		if r.Stop() {
			t.Error("Stop after the end reports that it stopped the close")
		}
		x.end()
		closedWithin(t, &cl, 1)
	})
	t.Run("stopped first", func(t *testing.T) {
		x := newConnContext()
		var cl closeCount
		r := CloseOnDone(x, &cl)
		if !r.Stop() {
			t.Error("Stop before the end reports that the close had begun")
		}
		if r.Stop() {
			t.Error("a second Stop reports that it stopped the close")
		}
		x.end()
		closedWithin(t, &cl, 0)
	})
	t.Run("a stale Stop leaves the next registration", func(t *testing.T) {
		x := newConnContext()
		var first, second closeCount
		r1 := CloseOnDone(x, &first)
		r1.Stop()
		r2 := CloseOnDone(x, &second)
		if r1.Stop() {
			t.Error("the first registration's second Stop stopped something")
		}
		x.end()
		closedWithin(t, &second, 1)
		closedWithin(t, &first, 0)
		if r2.Stop() {
			t.Error("Stop after the end reports that it stopped the close")
		}
	})
	t.Run("two at once", func(t *testing.T) {
		// The second falls back to context.AfterFunc; both are closed.
		x := newConnContext()
		var a, b closeCount
		CloseOnDone(x, &a)
		rb := CloseOnDone(x, &b)
		if rb.x != nil {
			t.Error("a second registration took the connection's slot")
		}
		x.end()
		closedWithin(t, &a, 1)
		closedWithin(t, &b, 1)
	})
	t.Run("context already ended", func(t *testing.T) {
		x := newConnContext()
		x.end()
		var cl closeCount
		CloseOnDone(x, &cl)
		closedWithin(t, &cl, 1)
	})
	t.Run("any other context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var stopped, closed closeCount
		if !CloseOnDone(ctx, &stopped).Stop() {
			t.Error("Stop before the end reports that the close had begun")
		}
		r := CloseOnDone(ctx, &closed)
		cancel()
		closedWithin(t, &closed, 1)
		closedWithin(t, &stopped, 0)
		if r.Stop() {
			t.Error("Stop after the end reports that it stopped the close")
		}
	})
}

// TestCloseOnDoneRace ends the context while the registration is stopped:
// the closer is closed exactly when Stop reports that it was too late.
func TestCloseOnDoneRace(t *testing.T) {
	for range 200 {
		x := newConnContext()
		var cl closeCount
		r := CloseOnDone(x, &cl)
		var wg sync.WaitGroup
		var stopped bool
		wg.Go(func() { stopped = r.Stop() })
		wg.Go(x.end)
		wg.Wait()
		want := int32(1)
		if stopped {
			want = 0
		}
		if got := cl.n.Load(); got != want {
			t.Fatalf("Stop reported %v and the closer was closed %d times, want %d", stopped, got, want)
		}
	}
}
