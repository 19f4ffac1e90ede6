package etcdstore

import (
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// DefaultOwnerTTL is how long the delete or removal of a replica that
// stopped renewing its lease stays its own before another replica's resume
// loop takes it on.
const DefaultOwnerTTL = 10 * time.Second

var _ certs.Owners = (*Store)(nil)

// owners are the claims this replica holds on certificates' changes in
// progress (certs.Owners): in etcd, a key per certificate bound to the
// replica's lease; here, which of them a change of this replica is using,
// so that this replica's own resume loop leaves them alone too.
type owners struct {
	lease *etcdkv.Lease
	mu    sync.Mutex
	held  map[string]bool // by owner key
}

func (s *Store) ownerKey(account, project, id string) string {
	return s.prefix + "owners/" + account + "/" + project + "/" + id
}

// ClaimMark claims the certificate's delete or removal in progress for
// this replica: it creates the owner key, bound to the replica's lease,
// if no replica's key is there. A key bound to this replica's own lease
// that no change of this replica holds was left by a release that failed,
// and is taken over.
func (s *Store) ClaimMark(account, project, id string) (bool, error) {
	if err := etcdkv.CheckKeyParts(account, project, id); err != nil {
		return false, err
	}
	k := s.ownerKey(account, project, id)
	s.owners.mu.Lock()
	if s.owners.held[k] {
		s.owners.mu.Unlock()
		return false, nil
	}
	// Held from now, so that a second claim of this replica refuses
	// without asking etcd; undone below if the claim fails.
	s.owners.held[k] = true
	s.owners.mu.Unlock()
	ok, err := s.claim(k)
	if !ok || err != nil {
		s.owners.mu.Lock()
		delete(s.owners.held, k)
		s.owners.mu.Unlock()
	}
	return ok, err
}

func (s *Store) claim(k string) (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var ok bool
	err := s.owners.lease.WithLease(ctx, func(lease clientv3.LeaseID) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, fmt.Sprintf("lease %x", int64(lease)), clientv3.WithLease(lease))).
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
		return false, etcdkv.Unavailable("claim the certificate's change in progress", s.prefix, err)
	}
	return ok, nil
}

// ReleaseMark removes the owner key if it is still bound to this replica's
// lease: a claim that expired while this replica was cut off from etcd may
// be another replica's by now.
func (s *Store) ReleaseMark(account, project, id string) error {
	k := s.ownerKey(account, project, id)
	defer func() {
		s.owners.mu.Lock()
		delete(s.owners.held, k)
		s.owners.mu.Unlock()
	}()
	lease := s.owners.lease.Current()
	if lease == 0 {
		return nil // the lease is gone, and its keys with it
	}
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(k), "=", lease)).
		Then(clientv3.OpDelete(k)).
		Commit()
	if err != nil {
		return etcdkv.Unavailable("release the certificate's change in progress", s.prefix, err)
	}
	return nil
}

// closeOwners revokes the replica's lease: the changes it still owns (it
// is stopping) become another replica's to resume at once.
func (s *Store) closeOwners() error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.owners.lease.Close(ctx)
}
