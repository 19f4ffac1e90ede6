package etcdstore

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// intents holds the lease this replica binds its deploys in progress to.
// It is granted when the first deploy begins and renewed while the replica
// lives; if it is lost (etcd unreachable for longer than its TTL), the
// deploys bound to it are gone, their commits fail with ErrPendingGone, and
// the next deploy gets a new lease.
type intents struct {
	cli *clientv3.Client
	ttl int64
	// renew ends the keep-alives of every lease granted here.
	renew context.Context
	stop  context.CancelFunc

	mu sync.Mutex
	id clientv3.LeaseID // 0 when no lease is live
}

func newIntents(cli *clientv3.Client, ttl time.Duration) *intents {
	secs := int64((ttl + time.Second - 1) / time.Second)
	ctx, stop := context.WithCancel(context.Background())
	return &intents{cli: cli, ttl: secs, renew: ctx, stop: stop}
}

// lease returns the live lease, granting one if there is none.
func (in *intents) lease(ctx context.Context) (clientv3.LeaseID, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.id != 0 {
		return in.id, nil
	}
	g, err := in.cli.Grant(ctx, in.ttl)
	if err != nil {
		return 0, err
	}
	alive, err := in.cli.KeepAlive(in.renew, g.ID)
	if err != nil {
		return 0, err
	}
	in.id = g.ID
	go func(id clientv3.LeaseID) {
		// The channel closes when the lease expires, is revoked, or the
		// renewals stop.
		for range alive {
		}
		in.mu.Lock()
		if in.id == id {
			in.id = 0
		}
		in.mu.Unlock()
	}(g.ID)
	return g.ID, nil
}

// forget drops id if it is the live lease: etcd answered that it is gone
// before the keep-alives noticed.
func (in *intents) forget(id clientv3.LeaseID) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.id == id {
		in.id = 0
	}
}

// current returns the live lease without granting one (0 when none).
func (in *intents) current() clientv3.LeaseID {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.id
}

// close stops the renewals and revokes the live lease, which deletes the
// keys bound to it.
func (in *intents) close(ctx context.Context) error {
	in.stop()
	in.mu.Lock()
	id := in.id
	in.id = 0
	in.mu.Unlock()
	if id == 0 {
		return nil
	}
	_, err := in.cli.Revoke(ctx, id)
	return err
}
