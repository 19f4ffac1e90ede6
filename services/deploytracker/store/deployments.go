package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Keys: account, project, environment (all validated slugs, so no NUL).
func envKey(account, project, env string) []byte {
	return []byte(account + "\x00" + project + "\x00" + env)
}

func idKey(account, project, id string) []byte {
	return []byte(account + "\x00" + project + "\x00" + id)
}

func pendingKey(account, project, env, token string) []byte {
	return []byte(account + "\x00" + project + "\x00" + env + "\x00" + token)
}

func projectPrefix(account, project string) []byte {
	return []byte(account + "\x00" + project + "\x00")
}

// BeginDeploy durably records a deploy in progress with its references.
// From now until CommitDeploy or AbortDeploy, they count as references.
func (s *Store) BeginDeploy(p Pending) error {
	return s.group.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketPending), pendingKey(p.Account, p.Project, p.Environment, p.Token), p)
	})
}

// AbortDeploy removes a deploy in progress.
func (s *Store) AbortDeploy(p Pending) error {
	return s.group.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).Delete(pendingKey(p.Account, p.Project, p.Environment, p.Token))
	})
}

// DropAllPending removes every deploy in progress. Only at start-up, when no
// deploy can be running: a deploy whose process died was never acknowledged.
func (s *Store) DropAllPending() (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPending).Stats().KeyN
		if err := tx.DeleteBucket(bucketPending); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketPending)
		return err
	})
	return n, err
}

// CommitDeploy replaces the environment's deployment with d and removes the
// deploy in progress p, in one transaction. d keeps the environment's id,
// creation time and next generation when it had a deployment; otherwise
// newID is used.
func (s *Store) CommitDeploy(p Pending, d *Deployment, newID string) (Change, error) {
	return s.CommitDeployAudited(nil, p, d, newID)
}

// CommitDeployAudited is CommitDeploy that also appends rec's audit entry
// in the commit's own transaction, so that an acknowledged deploy never
// lacks its entry.
func (s *Store) CommitDeployAudited(rec AuditFunc, p Pending, d *Deployment, newID string) (Change, error) {
	return s.writeAudited(rec, func(tx *bolt.Tx, rev uint64) (*Change, error) {
		pending := tx.Bucket(bucketPending)
		pk := pendingKey(p.Account, p.Project, p.Environment, p.Token)
		if pending.Get(pk) == nil {
			return nil, ErrPendingGone
		}
		if err := pending.Delete(pk); err != nil {
			return nil, err
		}
		deps := tx.Bucket(bucketDeployments)
		ek := envKey(d.Account, d.Project, d.Environment)
		prev, err := getDeployment(deps, ek)
		if errors.Is(err, ErrUndecodable) {
			// A redeploy repairs a damaged record: it keeps the id the
			// index holds and starts its generations again.
			prev = standIn(tx, ek, err)
			prev.Generation = 0
			err = nil
		}
		if err != nil && err != ErrNotFound {
			return nil, err
		}
		rec := *d
		rec.Revision = rev
		if prev != nil {
			rec.ID, rec.Generation, rec.CreatedAt = prev.ID, prev.Generation+1, prev.CreatedAt
		} else {
			rec.ID, rec.Generation = newID, 1
			if err := tx.Bucket(bucketIDs).Put(idKey(d.Account, d.Project, newID), []byte(d.Environment)); err != nil {
				return nil, err
			}
		}
		if err := putJSON(deps, ek, &rec); err != nil {
			return nil, err
		}
		return &Change{Type: ChangeDeployed, DeploymentID: rec.ID, Account: rec.Account, Project: rec.Project, Before: prev, After: &rec, At: rec.UpdatedAt}, nil
	})
}

// DeleteDeployment removes a deployment.
func (s *Store) DeleteDeployment(account, project, id string) (Change, error) {
	return s.DeleteDeploymentAudited(nil, account, project, id)
}

// DeleteDeploymentAudited is DeleteDeployment with rec's audit entry (see
// CommitDeployAudited).
func (s *Store) DeleteDeploymentAudited(rec AuditFunc, account, project, id string) (Change, error) {
	return s.writeAudited(rec, func(tx *bolt.Tx, rev uint64) (*Change, error) {
		ids := tx.Bucket(bucketIDs)
		env := ids.Get(idKey(account, project, id))
		if env == nil {
			return nil, ErrNotFound
		}
		deps := tx.Bucket(bucketDeployments)
		ek := envKey(account, project, string(env))
		prev, err := getDeployment(deps, ek)
		if errors.Is(err, ErrUndecodable) {
			// A damaged record may be deleted: the stand-in carries all
			// a subscriber needs to drop it.
			prev, err = standIn(tx, ek, err), nil
		}
		if err != nil {
			return nil, err
		}
		if err := deps.Delete(ek); err != nil {
			return nil, err
		}
		if err := ids.Delete(idKey(account, project, id)); err != nil {
			return nil, err
		}
		return &Change{Type: ChangeDeleted, DeploymentID: id, Account: account, Project: project, Before: prev, At: prev.UpdatedAt}, nil
	})
}

// GetDeployment returns a deployment by id.
func (s *Store) GetDeployment(account, project, id string) (*Deployment, error) {
	var d *Deployment
	err := s.db.View(func(tx *bolt.Tx) error {
		env := tx.Bucket(bucketIDs).Get(idKey(account, project, id))
		if env == nil {
			return ErrNotFound
		}
		var err error
		ek := envKey(account, project, string(env))
		d, err = getDeployment(tx.Bucket(bucketDeployments), ek)
		if errors.Is(err, ErrUndecodable) {
			d, err = standIn(tx, ek, err), nil
		}
		return err
	})
	return d, err
}

// ListDeployments returns a project's deployments ordered by environment.
func (s *Store) ListDeployments(account, project string) ([]*Deployment, error) {
	var out []*Deployment
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := projectPrefix(account, project)
		c := tx.Bucket(bucketDeployments).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var d Deployment
			if err := json.Unmarshal(v, &d); err != nil {
				out = append(out, standIn(tx, k, err))
				continue
			}
			out = append(out, &d)
		}
		return nil
	})
	return out, err
}

// References lists the deployments of a project, committed and in
// progress, that use the certificate, read in one transaction.
func (s *Store) References(account, project, certificateID string) ([]Use, error) {
	var out []Use
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := projectPrefix(account, project)
		envIDs := map[string]string{}
		c := tx.Bucket(bucketDeployments).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var d Deployment
			if err := json.Unmarshal(v, &d); err != nil {
				// Whether it uses the certificate is unknown, so the
				// answer must not be "no".
				si := standIn(tx, k, err)
				return fmt.Errorf("%w: the deployment of environment %q (%s) cannot be read, so whether it uses the certificate is unknown; redeploy that environment or delete the deployment, then try again",
					ErrUndecodable, si.Environment, si.ID)
			}
			envIDs[d.Environment] = d.ID
			if uses(d.References, certificateID) {
				out = append(out, Use{DeploymentID: d.ID, Environment: d.Environment, EnvironmentType: d.EnvironmentType})
			}
		}
		c = tx.Bucket(bucketPending).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var p Pending
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode deploy in progress: %w", err)
			}
			if uses(p.References, certificateID) {
				out = append(out, Use{DeploymentID: envIDs[p.Environment], Environment: p.Environment, EnvironmentType: p.EnvironmentType, InProgress: true})
			}
		}
		return nil
	})
	return out, err
}

func uses(refs []Reference, id string) bool {
	for _, r := range refs {
		if r.CertificateID == id {
			return true
		}
	}
	return false
}

// Snapshot returns every deployment and the revision they reflect.
func (s *Store) Snapshot() ([]*Deployment, uint64, error) {
	var out []*Deployment
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx)
		return tx.Bucket(bucketDeployments).ForEach(func(k, v []byte) error {
			var d Deployment
			if err := json.Unmarshal(v, &d); err != nil {
				// One damaged record harms only itself.
				out = append(out, standIn(tx, k, err))
				return nil
			}
			out = append(out, &d)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, rev, err
}

func getDeployment(b *bolt.Bucket, key []byte) (*Deployment, error) {
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	var d Deployment
	if err := json.Unmarshal(v, &d); err != nil {
		account, project, env := splitKey(key)
		return nil, fmt.Errorf("%w: deployment of environment %s in %s/%s: %w", ErrUndecodable, env, account, project, err)
	}
	return &d, nil
}
