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
// key store. Answers are cached briefly so that a burst of calls with one key
// costs one round trip; a revoked key therefore works for up to TTL more.
type Remote struct {
	client certmgrv1.InternalServiceClient
	fixed  fixedKeys
	ttl    time.Duration

	mu    sync.Mutex
	cache map[[32]byte]remoteEntry
}

type remoteEntry struct {
	p       Principal
	err     error
	expires time.Time
}

// maxRemoteCache bounds the cache; when full it is emptied, which only costs
// round trips.
const maxRemoteCache = 10000

// NewRemote returns a Verifier that asks certmgr over conn. conn must carry
// the service key (BearerCredentials). serviceKey is also accepted locally,
// so certmgr can call this service. ttl <= 0 means 10s.
func NewRemote(conn grpc.ClientConnInterface, serviceKey string, ttl time.Duration) *Remote {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &Remote{client: certmgrv1.NewInternalServiceClient(conn), fixed: newFixedKeys("", serviceKey), ttl: ttl, cache: map[[32]byte]remoteEntry{}}
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
	case status.Code(err) == codes.Unauthenticated:
		e = remoteEntry{err: ErrUnauthenticated}
	case err != nil:
		// Not cached: certmgr may be back in a moment.
		return Principal{}, fmt.Errorf("ask certmgr about the key: %w", err)
	default:
		e = remoteEntry{p: Principal{KeyID: resp.GetKeyId(), Role: Role(resp.GetRole()), Account: resp.GetAccount(),
			Project: resp.GetProject(), EnvironmentTypes: resp.GetEnvironmentTypes()}}
	}
	e.expires = now.Add(r.ttl)
	r.mu.Lock()
	if len(r.cache) >= maxRemoteCache {
		clear(r.cache)
	}
	r.cache[sum] = e
	r.mu.Unlock()
	return e.p, e.err
}
