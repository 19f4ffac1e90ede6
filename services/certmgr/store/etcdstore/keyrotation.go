package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// A master-key rotation on etcd. Every replica holds its own copy of the
// key files, so a replica must never be asked to open a value sealed under
// a key it does not hold:
//
//   - each replica advertises the ids of the keys it holds (never the
//     keys) under PREFIXreplicas/NAME, bound to its lease;
//   - a rotation begins (meta/masterKeyNext is written) only if every
//     advertised replica holds the next key, in a transaction that fails
//     if a replica advertised itself since that check;
//   - every write of a certificate compares the master key records with
//     those its replica follows (keyGuard), so no replica seals under a key
//     the store no longer asks for: a write that finds them moved brings
//     its replica in line and re-seals before it tries again;
//   - the walk that re-seals the records is claimed by one replica at a
//     time (meta/masterKeyWalk, bound to its lease), each record in a
//     transaction guarded by its modification revision, and writes a
//     record whose change type the feed does not publish;
//   - the rotation ends when a scan finds no record under the old key:
//     the next key's check value becomes the store's.

// changeResealed is the change type of a record whose key a rotation
// sealed again: its certificate did not change, so the feed publishes
// nothing for it.
const changeResealed = "resealed"

// errDamagedKey marks a record whose key does not open: the walk leaves
// it as it is and goes on.
var errDamagedKey = errors.New("the certificate's private key does not unseal")

// errWalkLost is returned by a walk whose claim another replica holds now
// (this one's lease lapsed).
var errWalkLost = errors.New("this certmgr replica lost its claim on the master-key rotation's walk (its etcd lease expired); another replica carries it on")

func (s *Store) keyNextKey() string     { return s.prefix + "meta/masterKeyNext" }
func (s *Store) keyWalkKey() string     { return s.prefix + "meta/masterKeyWalk" }
func (s *Store) replicasPrefix() string { return s.prefix + "replicas/" }

// KeyNext returns the check value of the key a rotation is moving the
// store to, or nil when none is under way.
func (s *Store) KeyNext() ([]byte, error) {
	st, err := s.KeyState()
	return st.Next, err
}

// KeyState reads the store's master key records in one linearizable read.
func (s *Store) KeyState() (store.KeyState, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.keyState(ctx)
}

func (s *Store) keyState(ctx context.Context) (store.KeyState, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.keyCheckKey()), clientv3.OpGet(s.keyNextKey())).Commit()
	if err != nil {
		return store.KeyState{}, etcdkv.Unavailable("read the master key records", s.prefix, err)
	}
	var st store.KeyState
	if kv := etcdkv.Value(resp, 0); kv != nil {
		st.Check, st.CheckRev = kv.Value, kv.ModRevision
	}
	if kv := etcdkv.Value(resp, 1); kv != nil {
		st.Next, st.NextRev = kv.Value, kv.ModRevision
	}
	return st, nil
}

// keyGuard holds a replica's writes to the master key records it follows.
type keyGuard struct {
	mu     sync.RWMutex
	on     bool
	state  store.KeyState
	rewrap store.Rewrap
	sync   func() error
	// changed is signalled when the feed sees a master key record change.
	changed chan struct{}
}

// SetKeyGuard sets what guards this replica's writes once it follows the
// master key records (FollowKeyState): rewrap seals a record's key again
// under the key the replica seals with, and sync brings the replica in
// line with the records as they are now (it calls FollowKeyState).
func (s *Store) SetKeyGuard(rewrap store.Rewrap, sync func() error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	s.keys.rewrap, s.keys.sync = rewrap, sync
}

// FollowKeyState runs apply, which brings the replica's key ring in line
// with st, while no write of this replica is between sealing and
// comparing, then makes this replica's writes compare st's revisions.
func (s *Store) FollowKeyState(st store.KeyState, apply func() error) error {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if err := apply(); err != nil {
		return err
	}
	s.keys.state, s.keys.on = st, s.keys.rewrap != nil
	return nil
}

// KeyRecordsChanged is signalled each time this replica's feed sees a
// write of the master key records or of the rotation walk's claim (by any
// replica).
func (s *Store) KeyRecordsChanged() <-chan struct{} { return s.keys.changed }

// sealGuard seals c's key again under the key this replica seals with, if
// it is under another, and returns the comparisons that hold the write to
// the master key records the replica follows, and those records. A key
// that does not open is left as it is: it harms only its certificate.
func (s *Store) sealGuard(c *store.Certificate) ([]clientv3.Cmp, store.KeyState) {
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	if !s.keys.on {
		return nil, store.KeyState{}
	}
	if len(c.SealedKey) > 0 {
		_, _ = s.keys.rewrap(c)
	}
	return s.keyCmps(s.keys.state), s.keys.state
}

func (s *Store) keyCmps(st store.KeyState) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(s.keyCheckKey()), "=", st.CheckRev),
		clientv3.Compare(clientv3.ModRevision(s.keyNextKey()), "=", st.NextRev),
	}
}

// keyStateMoved is asked when a write guarded by the master key records
// used did not hold: it reports whether the records changed since, after
// bringing the replica in line with them (the write is then tried again,
// sealed under the key the records now ask for).
func (s *Store) keyStateMoved(ctx context.Context, used store.KeyState) (bool, error) {
	s.keys.mu.RLock()
	on := s.keys.on
	s.keys.mu.RUnlock()
	if !on {
		return false, nil
	}
	now, err := s.keyState(ctx)
	if err != nil {
		return false, err
	}
	if now.Same(used) {
		return false, nil
	}
	s.keys.mu.RLock()
	followed, sync := s.keys.state, s.keys.sync
	s.keys.mu.RUnlock()
	if followed.Same(now) || sync == nil {
		return true, nil
	}
	if err := sync(); err != nil {
		return true, fmt.Errorf("the master key records changed and this certmgr replica cannot follow them: %w", err)
	}
	return true, nil
}

// noticeKeyRecords signals KeyRecordsChanged if events hold a write of a
// master key record.
func (s *Store) noticeKeyRecords(events []*clientv3.Event) {
	for _, ev := range events {
		k := string(ev.Kv.Key)
		if k == s.keyCheckKey() || k == s.keyNextKey() || k == s.keyWalkKey() {
			select {
			case s.keys.changed <- struct{}{}:
			default:
			}
			return
		}
	}
}

// Advertise records, under this replica's lease, the ids of the master
// keys it holds, so that a rotation begins only once every live replica
// holds the next key. It is written again on a new lease if the lease was
// lost (call it again whenever; it writes only then or when ids change).
func (s *Store) Advertise(name string, keyIDs []string) error {
	if err := etcdkv.CheckKeyParts(name); err != nil {
		return fmt.Errorf("replica name: %w", err)
	}
	value, err := json.Marshal(store.Replica{Name: name, KeyIDs: keyIDs})
	if err != nil {
		return err
	}
	s.advertised.mu.Lock()
	defer s.advertised.mu.Unlock()
	cur := s.owners.lease.Current()
	if cur != 0 && cur == s.advertised.lease && string(value) == s.advertised.value {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err = s.owners.lease.WithLease(ctx, func(lease clientv3.LeaseID) error {
		if _, err := s.cli.Put(ctx, s.replicasPrefix()+name, string(value), clientv3.WithLease(lease)); err != nil {
			return err
		}
		s.advertised.lease, s.advertised.value = lease, string(value)
		return nil
	})
	if err != nil {
		return etcdkv.Unavailable("advertise the replica's master keys", s.prefix, err)
	}
	return nil
}

// Replicas returns what the live replicas advertise.
func (s *Store) Replicas() ([]store.Replica, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.replicasPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, etcdkv.Unavailable("read the replicas", s.prefix, err)
	}
	return decodeReplicas(resp.Kvs), nil
}

func decodeReplicas(kvs []*etcdkv.KeyValue) []store.Replica {
	var out []store.Replica
	for _, kv := range kvs {
		var r store.Replica
		if json.Unmarshal(kv.Value, &r) != nil || r.Name == "" {
			// A record no replica of this release wrote holds no key.
			r = store.Replica{Name: string(kv.Key[strings.LastIndexByte(string(kv.Key), '/')+1:])}
		}
		out = append(out, r)
	}
	return out
}

// BeginSharedRotation records that the store is moving to the key whose
// check value is next and id nextID, if every live replica holds that key
// (store.ErrKeyNotEverywhere names those that do not). A rotation already
// recorded to the same key (sameKey) makes it a no-op; one to another key
// gives store.ErrRotationInProgress.
func (s *Store) BeginSharedRotation(next []byte, nextID string, sameKey func(recorded []byte) bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return etcdkv.Retry(ctx, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.keyCheckKey()),
			clientv3.OpGet(s.keyNextKey()),
			clientv3.OpGet(s.replicasPrefix(), clientv3.WithPrefix()),
		).Commit()
		if err != nil {
			return etcdkv.Unavailable("read the master key records", s.prefix, err)
		}
		check := etcdkv.Value(resp, 0)
		if check == nil {
			return errors.New("store: the store has no master key check value to rotate from")
		}
		if cur := etcdkv.Value(resp, 1); cur != nil {
			if sameKey(cur.Value) {
				return nil
			}
			return store.ErrRotationInProgress
		}
		var lacking []string
		for _, r := range decodeReplicas(etcdkv.Values(resp, 2)) {
			if !slices.Contains(r.KeyIDs, nextID) {
				lacking = append(lacking, r.Name)
			}
		}
		if len(lacking) > 0 {
			return fmt.Errorf("%w %s: replica(s) %s do not", store.ErrKeyNotEverywhere, nextID, strings.Join(lacking, ", "))
		}
		w, err := s.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(s.keyCheckKey()), "=", check.ModRevision),
			clientv3.Compare(clientv3.CreateRevision(s.keyNextKey()), "=", 0),
			// A replica that advertised itself since the read may lack
			// the key: its record's revision is past the read's.
			clientv3.Compare(clientv3.ModRevision(s.replicasPrefix()), "<", resp.Header.Revision+1).WithPrefix(),
		).Then(clientv3.OpPut(s.keyNextKey(), string(next))).Commit()
		if err != nil {
			return etcdkv.Unavailable("record the master-key rotation", s.prefix, err)
		}
		if !w.Succeeded {
			return etcdkv.ErrConflict
		}
		return nil
	})
}

// ClaimKeyWalk claims the rotation's walk for this replica: true if no
// live replica holds it, or this one already does.
func (s *Store) ClaimKeyWalk(name string) (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	k := s.keyWalkKey()
	var ok bool
	err := s.owners.lease.WithLease(ctx, func(lease clientv3.LeaseID) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, name, clientv3.WithLease(lease))).
			Else(clientv3.OpGet(k)).
			Commit()
		if err != nil {
			return err
		}
		cur := etcdkv.Value(resp, 0)
		ok = resp.Succeeded || (cur != nil && clientv3.LeaseID(cur.Lease) == lease)
		return nil
	})
	if err != nil {
		return false, etcdkv.Unavailable("claim the master-key rotation's walk", s.prefix, err)
	}
	return ok, nil
}

// walkCmps hold a walk's write to this replica's claim and to the master
// key records it follows.
func (s *Store) walkCmps() ([]clientv3.Cmp, store.KeyState, error) {
	lease := s.owners.lease.Current()
	if lease == 0 {
		return nil, store.KeyState{}, errWalkLost
	}
	s.keys.mu.RLock()
	st, on := s.keys.state, s.keys.on
	s.keys.mu.RUnlock()
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(s.keyWalkKey()), "=", lease)}
	if on {
		cmps = append(cmps, s.keyCmps(st)...)
	}
	return cmps, st, nil
}

// RewrapPage seals again, under the key this replica seals with, the keys
// of up to limit certificate records after the key after ("" for the
// first), each in a transaction that holds only if the record is still the
// one fn saw (a concurrent write wins, and the record is read again), the
// walk is still this replica's and the master key records are those it
// follows. It returns the last key visited, "" once every record was.
// The records it writes keep their version and material; the feed
// publishes no change for them.
func (s *Store) RewrapPage(after string, limit int, fn store.Rewrap) (next string, st store.RewrapStats, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	prefix := s.prefix + "certs/"
	from := prefix
	if after != "" {
		from = after + "\x00"
	}
	resp, err := s.cli.Get(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return "", st, etcdkv.Unavailable("read certificates", s.prefix, err)
	}
	for _, kv := range resp.Kvs {
		changed, err := s.rewrapRecord(ctx, kv, fn)
		switch {
		case err != nil && errors.Is(err, errDamagedKey):
			st.Failed++
		case err != nil:
			return "", st, err
		case changed:
			st.Rewrapped++
		}
	}
	if resp.More && len(resp.Kvs) > 0 {
		next = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
	return next, st, nil
}

// rewrapRecord seals one record's key again, reading it again as long as
// concurrent writes change it.
func (s *Store) rewrapRecord(ctx context.Context, kv *etcdkv.KeyValue, fn store.Rewrap) (bool, error) {
	for kv != nil {
		c, err := s.decode(kv)
		if err != nil || len(c.SealedKey) == 0 {
			// A record that does not decode harms only itself.
			return false, nil
		}
		// The comparisons are taken first: a ring that moves on after
		// them moves the records they compare too.
		cmps, st, err := s.walkCmps()
		if err != nil {
			return false, err
		}
		changed, err := fn(c)
		if err != nil {
			return false, fmt.Errorf("%w: %w", errDamagedKey, err)
		}
		if !changed {
			return false, nil
		}
		value, err := encodeChange(c, changeResealed)
		if err != nil {
			return false, err
		}
		w, err := s.cli.Txn(ctx).
			If(append(cmps, clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision))...).
			Then(clientv3.OpPut(string(kv.Key), value)).
			Else(clientv3.OpGet(string(kv.Key)), clientv3.OpGet(s.keyWalkKey())).
			Commit()
		if err != nil {
			return false, etcdkv.Unavailable("seal a certificate's key again", s.prefix, err)
		}
		if w.Succeeded {
			return true, nil
		}
		if claim := etcdkv.Value(w, 1); claim == nil || clientv3.LeaseID(claim.Lease) != s.owners.lease.Current() {
			return false, errWalkLost
		}
		if moved, err := s.keyStateMoved(ctx, st); err != nil {
			return false, err
		} else if moved {
			return false, errors.New("the master key records changed during the walk; it starts again")
		}
		kv = etcdkv.Value(w, 0)
	}
	return false, nil
}

// FinishSharedRotation ends the rotation if no record needs the previous
// key: fn, called on each record's key, must leave every one unchanged.
// Every write since the rotation began seals under the next key (the
// guard), so a scan that finds none left is final. The next key's check
// value then becomes the store's, in a transaction that holds only if the
// rotation and the walk's claim are still those this replica followed.
func (s *Store) FinishSharedRotation(fn store.Rewrap) (done bool, err error) {
	// The records this replica follows, which its ring (fn's key)
	// reflects: the end holds only if they are still the store's, so a
	// replica that has not followed the rotation (it would find every
	// record under the key it seals with) can never end it.
	s.keys.mu.RLock()
	st, on := s.keys.state, s.keys.on
	s.keys.mu.RUnlock()
	if !on {
		if st, err = s.KeyState(); err != nil {
			return false, err
		}
	}
	if st.Next == nil {
		now, err := s.KeyState()
		if err != nil {
			return false, err
		}
		if now.Next == nil {
			return true, nil
		}
		return false, errors.New("this replica has not followed the master-key rotation yet; it walks once it has")
	}
	clean := true
	errDirty := errors.New("a record is still under the previous key")
	err = s.ForEachSealedKey(func(c *store.Certificate) error {
		if changed, err := fn(c); err == nil && changed {
			clean = false
			return errDirty
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDirty) {
		return false, err
	}
	if !clean {
		return false, nil
	}
	lease := s.owners.lease.Current()
	if lease == 0 {
		return false, errWalkLost
	}
	ctx, cancel := s.ctx()
	defer cancel()
	w, err := s.cli.Txn(ctx).If(append(s.keyCmps(st),
		clientv3.Compare(clientv3.LeaseValue(s.keyWalkKey()), "=", lease))...).
		Then(clientv3.OpPut(s.keyCheckKey(), string(st.Next)),
			clientv3.OpDelete(s.keyNextKey()),
			clientv3.OpDelete(s.keyWalkKey())).
		Commit()
	if err != nil {
		return false, etcdkv.Unavailable("record the end of the master-key rotation", s.prefix, err)
	}
	if !w.Succeeded {
		return false, errors.New("the master-key rotation or its walk's claim changed while this replica finished it; it goes on")
	}
	return true, nil
}
