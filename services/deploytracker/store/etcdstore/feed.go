package etcdstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// The change feed: one watch of the prefix per replica turns each write of
// a deployment key into a changelog entry, kept in memory
// (etcdkv.Window). The id index, deploys in progress and metadata are not
// changes of the deployment stream: a deploy's commit writes its
// deployment key in the same transaction as its index entry and the end
// of its intent, so that revision is one entry.

// entries turns the events of one revision into changelog entries.
func (s *Store) entries(rev int64, events []*clientv3.Event) ([]store.Entry, error) {
	deps := s.prefix + "deployments/"
	var out []store.Entry
	for _, ev := range events {
		if !strings.HasPrefix(string(ev.Kv.Key), deps) {
			continue
		}
		account, project, env, ok := splitKey(deps, string(ev.Kv.Key))
		if !ok {
			continue
		}
		// A record that does not decode is still a change of its
		// environment: it is sent as it is now.
		read := func(kv *mvccpb.KeyValue) *store.Deployment {
			d, err := decodeDeployment(deps, kv)
			if err != nil {
				return &store.Deployment{Account: account, Project: project, Environment: env,
					Damaged: fmt.Sprintf("its stored record does not decode (%v)", err)}
			}
			return d
		}
		ch := store.Change{Revision: uint64(ev.Kv.ModRevision), Account: account, Project: project}
		if (ev.Type == clientv3.EventTypeDelete || ev.Kv.Version != 1) && ev.PrevKv == nil {
			return nil, fmt.Errorf("etcd did not keep the deployment of %s/%s/%s as it was before revision %d", account, project, env, ev.Kv.ModRevision)
		}
		if ev.PrevKv != nil {
			ch.Before = read(ev.PrevKv)
		}
		if ev.Type == clientv3.EventTypeDelete {
			ch.Type, ch.DeploymentID, ch.At = store.ChangeDeleted, ch.Before.ID, ch.Before.UpdatedAt
		} else {
			ch.After = read(ev.Kv)
			ch.Type, ch.DeploymentID, ch.At = store.ChangeDeployed, ch.After.ID, ch.After.UpdatedAt
		}
		out = append(out, ch.Entry())
	}
	return out, nil
}

// ChangesSince returns up to limit changes after rev, the compaction point
// (every change after it is kept in this replica's memory) and the head,
// from memory.
func (s *Store) ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error) {
	changes, compacted, head = s.feed.Since(rev, limit)
	return changes, compacted, head, nil
}

// Revision returns the revision of the last change, once the feed has
// every write acknowledged before the call, on any replica.
func (s *Store) Revision() (uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.feed.Head(ctx)
}

// SetRestarted sets the function called when the feed starts its history
// again (its watch fell behind etcd's compaction): every live subscriber
// must then catch up from the feed, and one behind it resyncs.
func (s *Store) SetRestarted(fn func()) { s.feed.SetRestarted(fn) }

// SetProgress sets the function called each time the feed's progress
// moves past etcd revisions without changes of this store (writes of
// other services or other keys), in order with the publisher's calls.
func (s *Store) SetProgress(fn func(rev uint64)) { s.feed.SetProgress(fn) }

// SetPublisher sets the function called with every change this replica's
// feed takes in (the writes of every replica), in revision order and never
// two at once; a write of this replica returns after its change was
// published.
func (s *Store) SetPublisher(fn func(store.Entry)) { s.feed.SetPublisher(fn) }

// published waits until the feed has taken in a write of this replica at
// rev. The write is committed either way: a feed that lags catches up and
// publishes it then.
func (s *Store) published(ctx context.Context, rev uint64) {
	_ = s.feed.Wait(ctx, int64(rev), false)
}

// Snapshot returns every deployment, ordered by revision, read in one
// linearizable read, and the revision of the change feed they reflect: the
// last change at or before the read, so that a subscriber resumes from it
// on any replica.
func (s *Store) Snapshot() ([]*store.Deployment, uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	for {
		list, rev, err := s.snapshot(ctx)
		if err != nil {
			return nil, 0, err
		}
		head, ok, err := s.feed.HeadAt(ctx, rev)
		if err != nil {
			return nil, 0, etcdkv.Unavailable("wait for the change feed", s.prefix, err)
		}
		if ok {
			return list, head, nil
		}
	}
}

// snapshot reads every deployment and the etcd revision of the read.
func (s *Store) snapshot(ctx context.Context) ([]*store.Deployment, int64, error) {
	deps, ids := s.prefix+"deployments/", s.prefix+"ids/"
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(deps, clientv3.WithPrefix()),
		clientv3.OpGet(ids, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, 0, etcdkv.Unavailable("read every deployment", s.prefix, err)
	}
	// The id of an environment's deployment, by "account/project/env",
	// for stand-ins.
	idOf := map[string]string{}
	for _, kv := range etcdkv.Values(resp, 1) {
		if account, project, id, ok := splitKey(ids, string(kv.Key)); ok {
			idOf[account+"/"+project+"/"+string(kv.Value)] = id
		}
	}
	var out []*store.Deployment
	for _, kv := range etcdkv.Values(resp, 0) {
		d, err := s.decode(kv)
		if err != nil {
			account, project, env, ok := splitKey(deps, string(kv.Key))
			if !ok {
				continue
			}
			// One damaged record harms only itself.
			d = &store.Deployment{ID: idOf[account+"/"+project+"/"+env], Account: account, Project: project, Environment: env,
				Damaged: fmt.Sprintf("its stored record does not decode (%v)", err)}
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, resp.Header.Revision, nil
}
