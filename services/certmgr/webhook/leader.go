package webhook

import (
	"context"
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// On etcd the replicas elect one of them to run the passes (follow the
// changes, announce expiry, send): an etcd election under PREFIX
// webhooks/leader, its key bound to a lease the leader's client renews.
// Every write of a pass also compares that the election key is still this
// replica's, so a replica whose lease ran out (cut off from etcd, paused)
// records nothing more, even if it does not know yet. The API calls work
// on every replica and need no leadership.

// DefaultLeaderTTL is how long the replicas wait for a leader that
// stopped without resigning (killed, cut off) before another takes over.
const DefaultLeaderTTL = 10 * time.Second

// leadership is this replica's place in the election, once it has won.
type leadership struct {
	session  *concurrency.Session
	election *concurrency.Election
}

// lead returns once this replica leads the dispatch, campaigning (and
// waiting for the leader before it to resign or lapse) if it does not.
// On the bbolt file it returns at once. Call with d.mu held.
func (d *Dispatcher) lead(ctx context.Context) error {
	if d.etcd == nil {
		return nil
	}
	if l := d.leader; l != nil {
		select {
		case <-l.session.Done():
			d.cfg.Log.Warn("this replica's webhook leadership lapsed (its lease ran out); campaigning again")
			d.dropLead()
		default:
			return nil
		}
	}
	ttl := int((d.cfg.LeaderTTL + time.Second - 1) / time.Second)
	// The session ends with ctx (Run's), so that a campaign while etcd is
	// unreachable does not outlive the service; Close resigns, which
	// hands over at once even when the lease can no longer be revoked.
	s, err := concurrency.NewSession(d.cfg.Etcd, concurrency.WithTTL(max(ttl, 1)), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	e := concurrency.NewElection(s, d.etcd.leaderKey())
	// The campaign gives way to Close too: Run waits in it holding mu.
	campaign, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.closing, cancel)
	defer stop()
	if err := e.Campaign(campaign, d.replica); err != nil {
		s.Close()
		return err
	}
	d.leader = &leadership{session: s, election: e}
	d.etcd.setLead(e.Key(), e.Rev())
	d.cfg.Log.Info("this replica leads the webhook dispatch", slog.String("replica", d.replica))
	return nil
}

// lost is closed when this replica's leadership lapses; nil (never
// ready) when it does not lead, or on the bbolt file.
func (d *Dispatcher) lost() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.leader == nil {
		return nil
	}
	return d.leader.session.Done()
}

// dropLead resigns, so that another replica takes over at once, and ends
// the lease. Call with d.mu held.
func (d *Dispatcher) dropLead() {
	l := d.leader
	if l == nil {
		return
	}
	d.leader = nil
	d.etcd.setLead("", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.election.Resign(ctx)
	_ = l.session.Close()
}

// checkLead drops the leadership a pass found lost (errNotLeader), so
// that the next pass campaigns again.
func (d *Dispatcher) checkLead(err error) error {
	if errors.Is(err, errNotLeader) {
		d.cfg.Log.Warn("this replica lost the webhook leadership; another replica goes on", slog.String("replica", d.replica))
		d.dropLead()
	}
	return err
}

// watchDue wakes Run whenever a delivery is queued, by any replica (a
// deploy.refused recorded by another replica's API), until ctx ends.
func (d *Dispatcher) watchDue(ctx context.Context) {
	for ctx.Err() == nil {
		ch := d.cfg.Etcd.Watch(clientv3.WithRequireLeader(ctx), d.etcd.dueKeys(), clientv3.WithPrefix(), clientv3.WithFilterDelete())
		for resp := range ch {
			if resp.Err() != nil {
				break
			}
			if len(resp.Events) > 0 {
				d.Notify()
			}
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// Leads reports whether this replica leads the dispatch: always on the
// bbolt file, on etcd once elected and until it resigns or finds its
// leadership lost.
func (d *Dispatcher) Leads() bool {
	if d.etcd == nil {
		return true
	}
	key, _ := d.etcd.lead()
	return key != ""
}
