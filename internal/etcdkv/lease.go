package etcdkv

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease is the lease a replica binds the keys that say "this replica is
// working on it" to: a deploy in progress, the owner of a delete. While the
// replica lives its client renews the lease, so the keys stay; when it dies
// (or is cut off from etcd for longer than the TTL) the lease expires, its
// keys vanish, and another replica can tell that the work was abandoned.
//
// The lease is granted on first use and granted again after it is lost.
// Lease is safe for concurrent use.
type Lease struct {
	cli *clientv3.Client
	ttl int64
	// renew ends the keep-alives of every lease granted here.
	renew context.Context
	stop  context.CancelFunc

	mu sync.Mutex
	id clientv3.LeaseID // 0 when no lease is live
}

// NewLease returns the Lease of a replica; ttl is rounded up to whole
// seconds, which is how etcd counts.
func NewLease(cli *clientv3.Client, ttl time.Duration) *Lease {
	secs := int64((ttl + time.Second - 1) / time.Second)
	ctx, stop := context.WithCancel(context.Background())
	return &Lease{cli: cli, ttl: max(secs, 1), renew: ctx, stop: stop}
}

// ID returns the live lease, granting one if there is none.
func (l *Lease) ID(ctx context.Context) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id != 0 {
		return l.id, nil
	}
	if l.renew.Err() != nil {
		return 0, errors.New("the replica's lease was closed")
	}
	g, err := l.cli.Grant(ctx, l.ttl)
	if err != nil {
		return 0, err
	}
	alive, err := l.cli.KeepAlive(l.renew, g.ID)
	if err != nil {
		return 0, err
	}
	l.id = g.ID
	go func(id clientv3.LeaseID) {
		// The channel closes when the lease expires, is revoked, or the
		// renewals stop.
		for range alive {
		}
		l.Forget(id)
	}(g.ID)
	return g.ID, nil
}

// Forget drops id if it is the live lease: etcd answered that it is gone
// before the keep-alives noticed. The next ID grants a new one.
func (l *Lease) Forget(id clientv3.LeaseID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id == id {
		l.id = 0
	}
}

// Current returns the live lease without granting one (0 when none).
func (l *Lease) Current() clientv3.LeaseID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// WithLease runs put, a write binding keys to the live lease, and runs it
// once more on a new lease if etcd answers that the lease is gone (an
// expiry the keep-alives had not noticed yet).
func (l *Lease) WithLease(ctx context.Context, put func(clientv3.LeaseID) error) error {
	var err error
	for range 2 {
		var id clientv3.LeaseID
		id, err = l.ID(ctx)
		if err != nil {
			return err
		}
		err = put(id)
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return err
		}
		l.Forget(id)
	}
	return err
}

// Close stops the renewals and revokes the live lease, which deletes the
// keys bound to it: other replicas see at once that this one stopped.
func (l *Lease) Close(ctx context.Context) error {
	l.stop()
	l.mu.Lock()
	id := l.id
	l.id = 0
	l.mu.Unlock()
	if id == 0 {
		return nil
	}
	_, err := l.cli.Revoke(ctx, id)
	return err
}
