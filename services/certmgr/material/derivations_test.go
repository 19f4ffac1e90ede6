package material

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDerivationLimiterBounds runs more uploads than the limits allow and
// counts how many hold a slot at the same time, in total and per account.
func TestDerivationLimiterBounds(t *testing.T) {
	const total, perAccount = 3, 2
	l := NewDerivationLimiter(total, perAccount, 5*time.Second)
	var mu sync.Mutex
	running := map[string]int{}
	var now, peak int
	peakAccount := map[string]int{}
	var failed atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		account := fmt.Sprintf("acct%d", i%3)
		wg.Go(func() {
			release, err := l.Acquire(context.Background(), account)
			if err != nil {
				failed.Add(1)
				t.Error(err)
				return
			}
			mu.Lock()
			now++
			running[account]++
			peak = max(peak, now)
			peakAccount[account] = max(peakAccount[account], running[account])
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			now--
			running[account]--
			mu.Unlock()
			release()
			release() // a second call must not free a second slot
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d uploads found no slot within 5s", failed.Load())
	}
	if peak > total || peak < 2 {
		t.Errorf("%d derivations ran at once, want at most %d (and some in parallel)", peak, total)
	}
	for account, n := range peakAccount {
		if n > perAccount {
			t.Errorf("account %s ran %d derivations at once, want at most %d", account, n, perAccount)
		}
	}
}

func TestDerivationLimiterRefusesWhenBusy(t *testing.T) {
	l := NewDerivationLimiter(4, 2, 50*time.Millisecond)
	ctx := context.Background()
	var held []func()
	for range 2 {
		release, err := l.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	start := time.Now()
	_, err := l.Acquire(ctx, "acme")
	if !errors.Is(err, ErrTooManyDerivations) || err.Error() != "too many key derivations for account acme at once; retry shortly" {
		t.Fatalf("third derivation for acme: %v, want ErrTooManyDerivations naming acme", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond || waited > 2*time.Second {
		t.Errorf("refused after %v, want after waiting about 50ms", waited)
	}
	// Another account is not held up by acme.
	other, err := l.Acquire(ctx, "globex")
	if err != nil {
		t.Fatalf("globex while acme is at its limit: %v", err)
	}
	// The server-wide limit: 4 slots, 3 taken; a second globex fills it.
	other2, err := l.Acquire(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "initech"); !errors.Is(err, ErrTooManyDerivations) || err.Error() != "too many key derivations on this server at once (password-protected uploads); retry shortly" {
		t.Fatalf("fifth derivation with 4 slots: %v", err)
	}
	other()
	other2()

	// A waiting request gets a slot as soon as one is released.
	l.wait = 5 * time.Second
	go func() {
		time.Sleep(20 * time.Millisecond)
		held[0]()
	}()
	release, err := l.Acquire(ctx, "acme")
	if err != nil {
		t.Fatalf("acme after a release: %v", err)
	}
	release()
	held[1]()

	// Its context bounds the wait.
	for range 2 {
		if _, err := l.Acquire(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(cctx, "acme"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acme with an ending context: %v, want DeadlineExceeded", err)
	}
}
