package etcdstore

import (
	"context"
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
//
// While this replica holds a claim, its writes of that certificate hold
// only if the owner key is still bound to its lease: a replica whose lease
// lapsed (cut off from etcd) and whose change another replica has since
// taken on cannot finish that change on the strength of a check it made
// before.
type owners struct {
	lease *etcdkv.Lease
	mu    sync.Mutex
	// held maps the owner keys of this replica's changes to whether the
	// claim is made (false while it is being asked for).
	held map[string]bool
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
	if _, busy := s.owners.held[k]; busy {
		s.owners.mu.Unlock()
		return false, nil
	}
	// Reserved from now, so that a second claim of this replica refuses
	// without asking etcd; undone below if the claim fails.
	s.owners.held[k] = false
	s.owners.mu.Unlock()
	ok, err := s.claim(k)
	s.owners.mu.Lock()
	if ok && err == nil {
		s.owners.held[k] = true
	} else {
		delete(s.owners.held, k)
	}
	s.owners.mu.Unlock()
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

// ownerGuard returns the comparisons that hold a write of the certificate
// to this replica's claim, if it holds one: the owner key must still be
// bound to its lease.
func (s *Store) ownerGuard(account, project, id string) ([]clientv3.Cmp, error) {
	k := s.ownerKey(account, project, id)
	s.owners.mu.Lock()
	claimed := s.owners.held[k]
	s.owners.mu.Unlock()
	if !claimed {
		return nil, nil
	}
	lease := s.owners.lease.Current()
	if lease == 0 {
		return nil, claimLost(id)
	}
	return []clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(k), "=", lease)}, nil
}

// guardFailed tells why a guarded write did not hold: the claim was lost,
// or the record changed (etcdkv.ErrConflict: read again and retry).
func (s *Store) guardFailed(ctx context.Context, account, project, id string) error {
	resp, err := s.cli.Get(ctx, s.ownerKey(account, project, id))
	if err != nil {
		return etcdkv.Unavailable("read the owner of the certificate's change", s.prefix, err)
	}
	if len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != s.owners.lease.Current() {
		return claimLost(id)
	}
	return etcdkv.ErrConflict
}

func claimLost(id string) error {
	return fmt.Errorf("%w: this certmgr replica lost its claim on the delete or removal of environment types of certificate %s (its etcd lease expired while etcd could not be reached); another replica finishes or undoes it: check the certificate, then try again if needed",
		certs.ErrBusy, id)
}
