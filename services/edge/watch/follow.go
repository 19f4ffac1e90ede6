package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// session runs one stream from a revision until it fails; it returns the
// revision it got to.
type session func(ctx context.Context, from uint64) (uint64, error)

// follow runs sessions forever, resuming each from the last applied
// revision, with capped exponential backoff and jitter between failures.
// It returns when ctx ends.
func follow(ctx context.Context, log *slog.Logger, t *tracker, run session) error {
	backoff := 100 * time.Millisecond
	for {
		from := t.get().Revision
		started := time.Now()
		_, err := run(ctx, from)
		t.update(func(s *Status) { s.Connected, s.KeyRefused = false, status.Code(err) == codes.Unauthenticated })
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond // it was healthy for a while
		}
		log.Warn("stream ended; reconnecting", slog.String("stream", t.get().Name),
			slog.Uint64("from", t.get().Revision), slog.String("error", errString(err)), slog.Duration("in", backoff))
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func errString(err error) string {
	if err == nil {
		return "closed by the server"
	}
	return err.Error()
}

var errProtocol = errors.New("stream protocol error")

// sameEpoch checks a heartbeat's epoch against the one the follower holds
// state of. A store's epoch changes only by a restore, which needs a new
// connection and a resync, so another one on a live stream is a protocol
// error: the follower reconnects and the server sends a snapshot. A server
// that knows no epochs sends none, and nothing can be checked.
func sameEpoch(held, got string, inSnapshot bool) error {
	if inSnapshot || got == "" || held == got {
		return nil
	}
	return fmt.Errorf("%w: heartbeat of epoch %s on a stream of epoch %s", errProtocol, got, held)
}
