package watch

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// follow runs sessions forever, resuming each from the last applied
// revision, with capped exponential backoff and jitter between failures.
// It returns when ctx ends.
func follow(ctx context.Context, log *slog.Logger, t *tracker, session func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := session(ctx)
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
