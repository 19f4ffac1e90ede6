package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// BeginDeploy durably records a deploy in progress with its references,
// bound to this replica's lease. From now until CommitDeploy or
// AbortDeploy (or the replica's death), they count as references.
func (s *Store) BeginDeploy(p store.Pending) error {
	if err := etcdkv.CheckKeyParts(p.Account, p.Project, p.Environment, p.Token); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.intents.WithLease(ctx, func(lease clientv3.LeaseID) error {
		_, err := s.cli.Put(ctx, s.pendingKey(p), string(data), clientv3.WithLease(lease))
		return err
	})
	if err != nil {
		return etcdkv.Unavailable("record the deploy in progress", s.prefix, err)
	}
	return nil
}

// AbortDeploy removes a deploy in progress.
func (s *Store) AbortDeploy(p store.Pending) error {
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.cli.Delete(ctx, s.pendingKey(p)); err != nil {
		return etcdkv.Unavailable("remove the deploy in progress", s.prefix, err)
	}
	return nil
}

// DropAllPending removes this replica's deploys in progress and returns
// how many there were. Those of other replicas are left alone: they may be
// running, and those of a dead replica vanish with its lease. A replica
// that starts has no lease yet, so at start-up this drops nothing.
func (s *Store) DropAllPending() (int, error) {
	own := s.intents.Current()
	if own == 0 {
		return 0, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	// A keys-only read would not say which lease a key is bound to.
	resp, err := s.cli.Get(ctx, s.prefix+"pending/", clientv3.WithPrefix())
	if err != nil {
		return 0, etcdkv.Unavailable("list deploys in progress", s.prefix, err)
	}
	n := 0
	for _, kv := range resp.Kvs {
		if clientv3.LeaseID(kv.Lease) != own {
			continue
		}
		d, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).
			Commit()
		if err != nil {
			return n, etcdkv.Unavailable("drop a deploy in progress", s.prefix, err)
		}
		if d.Succeeded {
			n++
		}
	}
	return n, nil
}

// CommitDeploy replaces the environment's deployment with d and removes the
// deploy in progress p, in one transaction that holds only if p is still
// recorded and the environment's record is still the one read. d keeps the
// environment's id, creation time and next generation when it had a
// deployment; otherwise newID is used.
func (s *Store) CommitDeploy(p store.Pending, d *store.Deployment, newID string) (store.Change, error) {
	return s.commitDeploy(nil, p, d, newID)
}

func (s *Store) commitDeploy(rec store.AuditFunc, p store.Pending, d *store.Deployment, newID string) (store.Change, error) {
	if err := etcdkv.CheckKeyParts(d.Account, d.Project, d.Environment, newID); err != nil {
		return store.Change{}, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pk, ek := s.pendingKey(p), s.envKey(d.Account, d.Project, d.Environment)
	var out store.Change
	var trim string // the account whose audit trail the write added to
	err := etcdkv.Retry(ctx, func(ctx context.Context) error {
		read, err := s.cli.Txn(ctx).Then(clientv3.OpGet(pk), clientv3.OpGet(ek)).Commit()
		if err != nil {
			return etcdkv.Unavailable("read the environment's deployment", s.prefix, err)
		}
		pending := etcdkv.Value(read, 0)
		if pending == nil {
			return store.ErrPendingGone
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(pk), "=", pending.CreateRevision)}
		var prev *store.Deployment
		if cur := etcdkv.Value(read, 1); cur != nil {
			prev, err = s.decode(cur)
			if err != nil {
				// A redeploy repairs a damaged record: it keeps the id
				// the index holds and starts its generations again.
				prev, err = s.standIn(ctx, d.Account, d.Project, d.Environment, err)
				if err != nil {
					return err
				}
				prev.Generation = 0
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ek), "=", cur.ModRevision))
		} else {
			// One deployment per environment: only the first deploy
			// creates the key.
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ek), "=", 0))
		}
		dep := *d
		ops := []clientv3.Op{clientv3.OpDelete(pk)}
		if prev != nil && prev.ID != "" {
			dep.ID, dep.Generation, dep.CreatedAt = prev.ID, prev.Generation+1, prev.CreatedAt
		} else {
			// A first deploy, or a damaged record the id index lost:
			// the environment gets newID.
			dep.ID, dep.Generation = newID, 1
			ik := s.idKey(d.Account, d.Project, newID)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ik), "=", 0))
			ops = append(ops, clientv3.OpPut(ik, d.Environment))
		}
		value, err := encode(&dep)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(ek, value))
		change := store.Change{Type: store.ChangeDeployed, DeploymentID: dep.ID, Account: dep.Account, Project: dep.Project,
			Before: prev, After: &dep, At: dep.UpdatedAt}
		ops, audited, err := s.auditOps(rec, change, ops...)
		if err != nil {
			return err
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return etcdkv.Unavailable("commit the deployment", s.prefix, err)
		}
		if !resp.Succeeded {
			return etcdkv.ErrConflict
		}
		dep.Revision = uint64(resp.Header.Revision)
		out = change
		out.Revision = dep.Revision
		trim = audited
		return nil
	})
	if err == nil {
		s.trimAudit(ctx, trim)
		s.published(ctx, out.Revision)
	}
	return out, err
}

// DeleteDeployment removes a deployment and its id, in one transaction
// that holds only if both are still the ones read.
func (s *Store) DeleteDeployment(account, project, id string) (store.Change, error) {
	return s.deleteDeployment(nil, account, project, id)
}

func (s *Store) deleteDeployment(rec store.AuditFunc, account, project, id string) (store.Change, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ik := s.idKey(account, project, id)
	var out store.Change
	var trim string // the account whose audit trail the write added to
	err := etcdkv.Retry(ctx, func(ctx context.Context) error {
		idx, prev, cur, err := s.byID(ctx, account, project, id)
		if err != nil {
			return err
		}
		ek := s.envKey(account, project, string(idx.Value))
		change := store.Change{Type: store.ChangeDeleted, DeploymentID: id, Account: account, Project: project, Before: prev, At: prev.UpdatedAt}
		ops, audited, err := s.auditOps(rec, change, clientv3.OpDelete(ek), clientv3.OpDelete(ik))
		if err != nil {
			return err
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(ik), "=", idx.ModRevision),
				clientv3.Compare(clientv3.ModRevision(ek), "=", cur.ModRevision)).
			Then(ops...).
			Commit()
		if err != nil {
			return etcdkv.Unavailable("delete the deployment", s.prefix, err)
		}
		if !resp.Succeeded {
			return etcdkv.ErrConflict
		}
		out = change
		out.Revision = uint64(resp.Header.Revision)
		trim = audited
		return nil
	})
	if err == nil {
		s.trimAudit(ctx, trim)
		s.published(ctx, out.Revision)
	}
	return out, err
}

// byID reads a deployment by id: the id index entry, then the record it
// names, in a transaction that holds only while the entry is unchanged
// (etcdkv.ErrConflict otherwise: the caller reads again). A damaged record
// is read as its stand-in.
func (s *Store) byID(ctx context.Context, account, project, id string) (idx *etcdkv.KeyValue, d *store.Deployment, kv *etcdkv.KeyValue, err error) {
	ik := s.idKey(account, project, id)
	ir, err := s.cli.Get(ctx, ik)
	if err != nil {
		return nil, nil, nil, etcdkv.Unavailable("read the deployment id index", s.prefix, err)
	}
	if len(ir.Kvs) == 0 {
		return nil, nil, nil, store.ErrNotFound
	}
	idx = ir.Kvs[0]
	env := string(idx.Value)
	dr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(ik), "=", idx.ModRevision)).
		Then(clientv3.OpGet(s.envKey(account, project, env))).
		Commit()
	if err != nil {
		return nil, nil, nil, etcdkv.Unavailable("read the deployment", s.prefix, err)
	}
	if !dr.Succeeded {
		return nil, nil, nil, etcdkv.ErrConflict
	}
	kv = etcdkv.Value(dr, 0)
	if kv == nil {
		return nil, nil, nil, store.ErrNotFound
	}
	d, err = s.decode(kv)
	if err != nil {
		d, err = s.standIn(ctx, account, project, env, err)
	}
	return idx, d, kv, err
}

// GetDeployment returns a deployment by id.
func (s *Store) GetDeployment(account, project, id string) (*store.Deployment, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var d *store.Deployment
	err := etcdkv.Retry(ctx, func(ctx context.Context) (err error) {
		_, d, _, err = s.byID(ctx, account, project, id)
		return err
	})
	return d, err
}

// ListDeployments returns a project's deployments ordered by environment.
func (s *Store) ListDeployments(account, project string) ([]*store.Deployment, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	prefix := s.projectPrefix("deployments", account, project)
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, etcdkv.Unavailable("list deployments", s.prefix, err)
	}
	out := make([]*store.Deployment, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		d, err := s.decode(kv)
		if err != nil {
			// One damaged record harms only itself.
			if d, err = s.standIn(ctx, account, project, string(kv.Key[len(prefix):]), err); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// References lists the deployments of a project, committed and in
// progress, that use the certificate, read in one linearizable transaction.
func (s *Store) References(account, project, certificateID string) ([]store.Use, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	deps, pend := s.projectPrefix("deployments", account, project), s.projectPrefix("pending", account, project)
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(deps, clientv3.WithPrefix()),
		clientv3.OpGet(pend, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, etcdkv.Unavailable("read the references of a certificate", s.prefix, err)
	}
	var out []store.Use
	envIDs := map[string]string{}
	for _, kv := range etcdkv.Values(resp, 0) {
		d, err := s.decode(kv)
		if err != nil {
			// Whether it uses the certificate is unknown, so the answer
			// must not be "no".
			env := string(kv.Key[len(deps):])
			si, serr := s.standIn(ctx, account, project, env, err)
			if serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("%w: the deployment of environment %q (%s) cannot be read, so whether it uses the certificate is unknown; redeploy that environment or delete the deployment, then try again",
				store.ErrUndecodable, env, si.ID)
		}
		envIDs[d.Environment] = d.ID
		if uses(d.References, certificateID) {
			out = append(out, store.Use{DeploymentID: d.ID, Environment: d.Environment, EnvironmentType: d.EnvironmentType})
		}
	}
	for _, kv := range etcdkv.Values(resp, 1) {
		var p store.Pending
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("decode deploy in progress %s: %w", kv.Key[len(pend):], err)
		}
		if uses(p.References, certificateID) {
			out = append(out, store.Use{DeploymentID: envIDs[p.Environment], Environment: p.Environment, EnvironmentType: p.EnvironmentType, InProgress: true})
		}
	}
	return out, nil
}

func uses(refs []store.Reference, id string) bool {
	for _, r := range refs {
		if r.CertificateID == id {
			return true
		}
	}
	return false
}
