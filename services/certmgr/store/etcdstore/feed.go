package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// The change feed: one watch of the prefix per replica turns each write of
// a certificate key into a changelog entry, kept in memory
// (etcdkv.Window). Names, API keys and metadata are not changes of the
// certificate stream. A change's type comes from the record it wrote (a
// key that is new was created, a deleted one deleted, any other write says
// its type in the record).

// entries turns the events of one revision into changelog entries.
func (s *Store) entries(rev int64, events []*clientv3.Event) ([]store.Entry, error) {
	certs := s.prefix + "certs/"
	s.noticeKeyRecords(events)
	var out []store.Entry
	for _, ev := range events {
		if !strings.HasPrefix(string(ev.Kv.Key), certs) {
			continue
		}
		e, ok, err := entry(certs, ev)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// entry is the changelog entry of one event of a certificate key; false
// when the key is not a certificate's.
func entry(certs string, ev *clientv3.Event) (store.Entry, bool, error) {
	account, project, id, ok := splitKey(certs, string(ev.Kv.Key))
	if !ok {
		return store.Entry{}, false, nil
	}
	// A record that does not decode is still a change of its certificate:
	// it is sent as it is now, a stand-in that names it.
	read := func(kv *mvccpb.KeyValue) *store.Certificate {
		c, err := decodeCertificate(certs, kv)
		if err != nil {
			return standIn(account, project, id, nil, err)
		}
		return c
	}
	ch := store.Change{Revision: uint64(ev.Kv.ModRevision), CertificateID: id, Account: account, Project: project}
	switch {
	case ev.Type == clientv3.EventTypeDelete:
		if ev.PrevKv == nil {
			return store.Entry{}, false, fmt.Errorf("etcd did not keep the certificate %s deleted at revision %d", id, ev.Kv.ModRevision)
		}
		ch.Type, ch.Before = store.ChangeDeleted, read(ev.PrevKv)
		ch.At = ch.Before.UpdatedAt
	case ev.Kv.Version == 1:
		ch.Type, ch.After = store.ChangeCreated, read(ev.Kv)
		ch.At = ch.After.CreatedAt
	case changeType(ev.Kv.Value) == changeResealed:
		// A master-key rotation sealed the same key again: nothing a
		// subscriber sees changed.
		return store.Entry{}, false, nil
	default:
		if ev.PrevKv == nil {
			return store.Entry{}, false, fmt.Errorf("etcd did not keep certificate %s as it was before revision %d", id, ev.Kv.ModRevision)
		}
		ch.Type, ch.Before, ch.After = changeType(ev.Kv.Value), read(ev.PrevKv), read(ev.Kv)
		ch.At = ch.After.UpdatedAt
	}
	return ch.Entry(), true, nil
}

// changeType is the type of the change that wrote a record, "updated" for
// a record that does not say (or does not decode).
func changeType(value []byte) string {
	var r struct {
		Change string `json:"change"`
	}
	if json.Unmarshal(value, &r) != nil || r.Change == "" {
		return store.ChangeUpdated
	}
	return r.Change
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
// rev, so that its change is published when the write returns. The write
// is committed either way: a feed that lags is logged by the window, and
// the change reaches subscribers when it catches up.
func (s *Store) published(ctx context.Context, rev uint64) {
	_ = s.feed.Wait(ctx, int64(rev), false)
}

// snapshotRevision is the feed's revision of a read at etcd revision rev;
// false when the feed's history starts after it, so the read must be
// made again.
func (s *Store) snapshotRevision(ctx context.Context, rev int64) (uint64, bool, error) {
	head, ok, err := s.feed.HeadAt(ctx, rev)
	if err != nil {
		return 0, false, etcdkv.Unavailable("wait for the change feed", s.prefix, err)
	}
	return head, ok, nil
}
