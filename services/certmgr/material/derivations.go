package material

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrTooManyDerivations is the error (tested with errors.Is) of a
// DerivationLimiter that had no slot free in time.
var ErrTooManyDerivations = errors.New("too many key derivations at once")

// A password-protected upload costs up to maxKDFIterations iterations per
// derivation (PKCS#12 MAC and PBE, PBKDF2 of an encrypted PKCS#8 key), about
// a third of a CPU-second each. The cap bounds one upload; DerivationLimiter
// bounds how many run at once, so that parallel uploads neither hold every
// CPU nor let one account take all of them from the others.
type DerivationLimiter struct {
	total      chan struct{} // a token per derivation running
	perAccount int
	wait       time.Duration

	mu      sync.Mutex
	running map[string]int
	freed   chan struct{} // closed, and replaced, whenever a slot is released
}

// NewDerivationLimiter lets total derivations run at once and perAccount of
// them for any one account. A request finding no slot waits at most wait (or
// until its context ends) for one.
func NewDerivationLimiter(total, perAccount int, wait time.Duration) *DerivationLimiter {
	return &DerivationLimiter{
		total:      make(chan struct{}, max(total, 1)),
		perAccount: max(perAccount, 1),
		wait:       wait,
		running:    make(map[string]int),
		freed:      make(chan struct{}),
	}
}

// Acquire takes a slot for one upload of account and returns the function
// that gives it back; calling that more than once is harmless. It fails with
// ctx's error when ctx ends first, and with an error matching
// ErrTooManyDerivations, whose message is meant for the user, when no slot
// frees up in time.
func (l *DerivationLimiter) Acquire(ctx context.Context, account string) (release func(), err error) {
	timer := time.NewTimer(l.wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.running[account] < l.perAccount {
			l.running[account]++
			l.mu.Unlock()
			break
		}
		freed := l.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, &busyError{account: account}
		}
	}
	select {
	case l.total <- struct{}{}:
	case <-ctx.Done():
		l.leave(account)
		return nil, ctx.Err()
	case <-timer.C:
		l.leave(account)
		return nil, &busyError{}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.total
			l.leave(account)
		})
	}, nil
}

// leave gives back account's slot and wakes the requests waiting for one.
func (l *DerivationLimiter) leave(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[account]--; l.running[account] <= 0 {
		delete(l.running, account)
	}
	close(l.freed)
	l.freed = make(chan struct{})
}

// busyError names the account over its own limit, or none when the server
// as a whole is busy.
type busyError struct{ account string }

func (e *busyError) Error() string {
	if e.account == "" {
		return "too many key derivations on this server at once (password-protected uploads); retry shortly"
	}
	return fmt.Sprintf("too many key derivations for account %s at once; retry shortly", e.account)
}

func (e *busyError) Is(target error) bool { return target == ErrTooManyDerivations }
