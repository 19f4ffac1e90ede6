package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// Remote verifies keys by asking certmgr, for services that do not hold the
// key store. Answers are cached so that a burst of calls with one key costs
// one round trip. Revocations reach the cache over certmgr's
// WatchRevocations stream, which Remote follows from NewRemote to Close:
// a revoked key's entries are dropped and its open streams here end. While
// that stream is not caught up, answers are cached for FailSafeTTL only, so
// a revocation Remote could not hear of still takes effect within it.
type Remote struct {
	client certmgrv1.InternalServiceClient
	fixed  fixedKeys
	ttl    time.Duration

	streams Streams
	stop    context.CancelFunc
	done    chan struct{}

	mu        sync.Mutex
	cache     map[[32]byte]remoteEntry
	following bool // WatchRevocations is caught up
}

type remoteEntry struct {
	p       Principal
	err     error
	expires time.Time
}

// maxRemoteCache bounds the cache; when full it is emptied, which only costs
// round trips.
const maxRemoteCache = 10000

// FailSafeTTL is how long Remote trusts an answer while it is not following
// certmgr's revocations.
const FailSafeTTL = 500 * time.Millisecond

// NewRemote returns a Verifier that asks certmgr over conn. conn must carry
// the service key (BearerCredentials). serviceKey is also accepted locally,
// so certmgr can call this service. ttl <= 0 means 10s. It follows
// certmgr's revocations until Close.
func NewRemote(conn grpc.ClientConnInterface, serviceKey string, ttl time.Duration) *Remote {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Remote{client: certmgrv1.NewInternalServiceClient(conn), fixed: newFixedKeys("", serviceKey), ttl: ttl,
		cache: map[[32]byte]remoteEntry{}, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.follow(ctx)
	}()
	return r
}

// Close stops following revocations.
func (r *Remote) Close() {
	r.stop()
	<-r.done
}

// OpenStreams is the registry of open streams by key, which revocations
// end.
func (r *Remote) OpenStreams() *Streams { return &r.streams }

// Following reports whether Remote is caught up with certmgr's revocations.
func (r *Remote) Following() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.following
}

// Authenticate returns the principal for a bearer secret.
func (r *Remote) Authenticate(secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrUnauthenticated
	}
	if p, ok := r.fixed.match(secret); ok {
		return p, nil
	}
	sum := sha256.Sum256([]byte(secret))
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[sum]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.p, e.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := r.client.Authenticate(ctx, &certmgrv1.AuthenticateRequest{Key: secret})
	switch {
	case status.Code(err) == codes.Unauthenticated && status.Convert(err).Message() == InactiveMessage:
		e = remoteEntry{err: ErrKeyInactive}
	case status.Code(err) == codes.Unauthenticated:
		e = remoteEntry{err: ErrUnauthenticated}
	case err != nil:
		// Not cached: certmgr may be back in a moment.
		return Principal{}, fmt.Errorf("ask certmgr about the key: %w", err)
	default:
		e = remoteEntry{p: Principal{KeyID: resp.GetKeyId(), Role: Role(resp.GetRole()), Account: resp.GetAccount(),
			Project: resp.GetProject(), EnvironmentTypes: resp.GetEnvironmentTypes()}}
		if resp.GetExpiresAt() != nil {
			e.p.ExpiresAt = resp.GetExpiresAt().AsTime()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A revocation heard while certmgr was answering wins over the answer.
	if e.err == nil && r.streams.Revoked(e.p.KeyID) {
		e = remoteEntry{err: ErrKeyInactive}
	}
	ttl := r.ttl
	if !r.following {
		ttl = FailSafeTTL
	}
	e.expires = now.Add(ttl)
	if !e.p.ExpiresAt.IsZero() && e.p.ExpiresAt.Before(e.expires) {
		e.expires = e.p.ExpiresAt
	}
	if len(r.cache) >= maxRemoteCache {
		clear(r.cache)
	}
	r.cache[sum] = e
	return e.p, e.err
}

// follow keeps a WatchRevocations stream open until ctx ends, reconnecting
// with a growing pause.
func (r *Remote) follow(ctx context.Context) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		caughtUp := r.followOnce(ctx)
		r.mu.Lock()
		// Without the stream, no answer that lets a key in may outlive
		// FailSafeTTL. Refusals stay: a revoked key is never valid again.
		r.following = false
		limit := time.Now().Add(FailSafeTTL)
		for k, e := range r.cache {
			if e.err == nil && e.expires.After(limit) {
				e.expires = limit
				r.cache[k] = e
			}
		}
		r.mu.Unlock()
		if caughtUp {
			pause = 100 * time.Millisecond
		} else if pause < 2*time.Second {
			pause *= 2
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// followOnce follows one stream until it fails, and says whether it caught
// up first.
func (r *Remote) followOnce(ctx context.Context) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.client.WatchRevocations(ctx, &certmgrv1.WatchRevocationsRequest{})
	if err != nil {
		return false
	}
	caughtUp := false
	for {
		msg, err := stream.Recv()
		if err != nil {
			return caughtUp
		}
		for _, id := range msg.GetKeyIds() {
			r.revoke(id)
		}
		if msg.GetReady() && !caughtUp {
			caughtUp = true
			r.mu.Lock()
			// Answers cached before now may predate a revocation that was
			// missed while not following; the list just received covered
			// those, and the rest expire within FailSafeTTL anyway.
			r.following = true
			r.mu.Unlock()
		}
	}
}

// revoke turns id's cached answers into refusals that do not expire (a
// revocation is final, so they hold even while certmgr cannot be reached)
// and ends its open streams.
func (r *Remote) revoke(id string) {
	r.mu.Lock()
	r.streams.Revoke(id)
	for k, e := range r.cache {
		if e.err == nil && e.p.KeyID == id {
			r.cache[k] = remoteEntry{err: ErrKeyInactive, expires: farFuture}
		}
	}
	r.mu.Unlock()
}

// farFuture is the expiry of cached answers that never change.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
