package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Why an open stream was ended by its key. Both are Unauthenticated for the
// client: the key it connected with no longer opens anything.
var (
	errStreamRevoked = errors.New("the API key of this stream was revoked: the stream is closed; use a valid key (an admin issues one with `certbind api-key create`)")
	errStreamExpired = errors.New("the API key of this stream expired: the stream is closed; use a valid key (an admin issues one with `certbind api-key create`)")
)

// Streams knows the open streams of each key, so that revoking a key ends
// them, and remembers the keys revoked so far, so that a stream whose key is
// revoked while it is being opened is refused rather than missed.
// The zero value is ready to use.
type Streams struct {
	mu      sync.Mutex
	open    map[string]map[*openStream]struct{}
	revoked map[string]bool
}

type openStream struct {
	cancel context.CancelCauseFunc
}

// Revoke marks keyID revoked and ends its open streams. It returns how many
// it ended.
func (s *Streams) Revoke(keyID string) int {
	s.mu.Lock()
	if s.revoked == nil {
		s.revoked = map[string]bool{}
	}
	s.revoked[keyID] = true
	streams := s.open[keyID]
	delete(s.open, keyID)
	s.mu.Unlock()
	for st := range streams {
		st.cancel(errStreamRevoked)
	}
	return len(streams)
}

// Revoked reports whether keyID was revoked.
func (s *Streams) Revoked(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[keyID]
}

// Open counts the open streams of keyID.
func (s *Streams) Open(keyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open[keyID])
}

// track returns a context for a stream of p's key that ends when the key is
// revoked or expires, and the function to call when the stream ends. It
// fails when the key is already revoked.
func (s *Streams) track(ctx context.Context, p Principal) (context.Context, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := func() {}
	if !p.ExpiresAt.IsZero() {
		t := time.AfterFunc(time.Until(p.ExpiresAt), func() { cancel(errStreamExpired) })
		stop = func() { t.Stop() }
	}
	st := &openStream{cancel: cancel}
	s.mu.Lock()
	if s.revoked[p.KeyID] {
		s.mu.Unlock()
		stop()
		cancel(nil)
		return nil, nil, errStreamRevoked
	}
	if s.open == nil {
		s.open = map[string]map[*openStream]struct{}{}
	}
	if s.open[p.KeyID] == nil {
		s.open[p.KeyID] = map[*openStream]struct{}{}
	}
	s.open[p.KeyID][st] = struct{}{}
	s.mu.Unlock()
	return ctx, func() {
		stop()
		s.mu.Lock()
		if m := s.open[p.KeyID]; m != nil {
			delete(m, st)
			if len(m) == 0 {
				delete(s.open, p.KeyID)
			}
		}
		s.mu.Unlock()
		cancel(nil)
	}, nil
}

// endedByKey returns the Unauthenticated status for a stream that its
// key's revocation or expiry ended, or nil.
func endedByKey(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStreamRevoked) || errors.Is(cause, errStreamExpired) {
		return status.Error(codes.Unauthenticated, cause.Error())
	}
	return nil
}

// streamTracker is a Verifier that ends streams of revoked keys.
type streamTracker interface {
	OpenStreams() *Streams
}
