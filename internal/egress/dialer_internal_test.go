package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestControlChecksAgain calls the Control hook as the system would right
// before connect, with addresses the dialer's own check would have caught:
// the hook refuses them by itself. No socket is made; the hook does not use
// the one it is given.
func TestControlChecksAgain(t *testing.T) {
	p, err := NewPolicy(Config{Allow: []netip.Prefix{loopback4}})
	if err != nil {
		t.Fatal(err)
	}
	d := &Dialer{Policy: p}
	ctx := context.Background()
	for _, tc := range []struct {
		address string
		rule    Rule // 0: allowed
	}{
		{"169.254.169.254:80", RuleBuiltin},
		{"[::ffff:169.254.169.254]:80", RuleBuiltin},
		{"[fe80::1%eth0]:80", RuleBuiltin},
		{"[::1]:80", RuleLoopback},
		{"127.0.0.1:80", 0},
	} {
		err := d.control(ctx, "tcp", tc.address, nil)
		var refused *RefusedError
		switch {
		case tc.rule == 0 && err != nil:
			t.Errorf("control(%s) = %v, want nil", tc.address, err)
		case tc.rule != 0 && (!errors.As(err, &refused) || refused.Rule != tc.rule):
			t.Errorf("control(%s) = %v, want a refusal by %s", tc.address, err, tc.rule)
		}
	}
	if err := d.control(ctx, "tcp", "not-an-address", nil); err == nil {
		t.Error("control accepted an address it cannot parse")
	}

	// The caller's hook runs first, and its error is the dial's.
	hookErr := errors.New("hook")
	d.Net = net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error { return hookErr }}
	if err := d.control(ctx, "tcp", "127.0.0.1:80", nil); err != hookErr {
		t.Errorf("control with a failing hook = %v, want the hook's error", err)
	}
}

func TestAttemptEnd(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		left time.Duration
		n    int
		want time.Duration
	}{
		{30 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 3, 10 * time.Second},
		{3 * time.Second, 3, 2 * time.Second}, // at least minAttempt
		{time.Second, 3, time.Second},         // but never past the end
		{-time.Second, 2, -time.Second},
	} {
		if got := attemptEnd(now, now.Add(tc.left), tc.n).Sub(now); got != tc.want {
			t.Errorf("attemptEnd with %v left for %d: %v, want %v", tc.left, tc.n, got, tc.want)
		}
	}
}
