package etcdstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// CreateCertificate stores a new certificate. It fails with
// store.ErrNameTaken when the name is in use in the account and project:
// the transaction creates the name's key only if it has never been created
// since its last delete, so of concurrent creates, on any replicas, exactly
// one wins.
func (s *Store) CreateCertificate(c *store.Certificate) (store.Change, error) {
	return s.createCertificate(nil, c)
}

func (s *Store) createCertificate(rec store.AuditFunc, c *store.Certificate) (store.Change, error) {
	if err := etcdkv.CheckKeyParts(c.Account, c.Project, c.ID, c.Name); err != nil {
		return store.Change{}, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	nk, ck := s.nameKey(c.Account, c.Project, c.Name), s.certKey(c.Account, c.Project, c.ID)
	stored := *c
	var resp *clientv3.TxnResponse
	var ch store.Change
	var account string
	for {
		keyGuard, used := s.sealGuard(&stored)
		value, err := encode(&stored)
		if err != nil {
			return store.Change{}, err
		}
		ch = store.Change{Type: store.ChangeCreated, CertificateID: c.ID, Account: c.Account, Project: c.Project, After: &stored, At: c.CreatedAt}
		var ops []clientv3.Op
		ops, account, err = s.auditOps(rec, ch, clientv3.OpPut(ck, value), clientv3.OpPut(nk, c.ID))
		if err != nil {
			return store.Change{}, err
		}
		resp, err = s.cli.Txn(ctx).
			If(append(keyGuard, clientv3.Compare(clientv3.CreateRevision(nk), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(ck), "=", 0))...).
			Then(ops...).
			Else(clientv3.OpGet(nk), clientv3.OpGet(ck)).
			Commit()
		if err != nil {
			return store.Change{}, etcdkv.Unavailable("create the certificate", s.prefix, err)
		}
		if resp.Succeeded {
			break
		}
		if etcdkv.Value(resp, 0) != nil {
			return store.Change{}, fmt.Errorf("%w: %q", store.ErrNameTaken, c.Name)
		}
		if etcdkv.Value(resp, 1) != nil {
			return store.Change{}, fmt.Errorf("certificate id %s already exists", c.ID)
		}
		// The master key records moved on: seal under the key they ask
		// for now, and try again.
		moved, err := s.keyStateMoved(ctx, used)
		if err != nil {
			return store.Change{}, err
		}
		if !moved {
			return store.Change{}, fmt.Errorf("certificate id %s already exists", c.ID)
		}
	}
	stored.Revision = uint64(resp.Header.Revision)
	ch.Revision = stored.Revision
	s.trimAudit(ctx, account)
	s.published(ctx, stored.Revision)
	return ch, nil
}

// UpdateCertificate loads a certificate, lets fn change it and stores the
// result as a change of the type fn returns, in a transaction that holds
// only if the record is still the one fn saw; otherwise fn runs again on
// the record as it now is. When fn returns an empty type nothing is
// written and the current record is returned with a zero Change.
func (s *Store) UpdateCertificate(account, project, id string, fn func(c *store.Certificate) (changeType string, err error)) (*store.Certificate, store.Change, error) {
	return s.updateCertificate(nil, account, project, id, fn)
}

func (s *Store) updateCertificate(rec store.AuditFunc, account, project, id string, fn func(c *store.Certificate) (changeType string, err error)) (*store.Certificate, store.Change, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ck := s.certKey(account, project, id)
	var out *store.Certificate
	var ch store.Change
	var trim string // the account whose audit trail the write added to
	err := etcdkv.Retry(ctx, func(ctx context.Context) error {
		resp, err := s.cli.Get(ctx, ck)
		if err != nil {
			return etcdkv.Unavailable("read the certificate", s.prefix, err)
		}
		if len(resp.Kvs) == 0 {
			return store.ErrNotFound
		}
		kv := resp.Kvs[0]
		before, err := s.decode(kv)
		if err != nil {
			return undecodable(account, project, id, err)
		}
		after := *before
		after.EnvironmentTypes = slices.Clone(before.EnvironmentTypes)
		after.RemovingTypes = slices.Clone(before.RemovingTypes)
		after.DNSNames = slices.Clone(before.DNSNames)
		typ, err := fn(&after)
		if err != nil {
			return err
		}
		if typ == "" {
			out, ch = before, store.Change{}
			return nil
		}
		if after.ID != before.ID || after.Account != before.Account || after.Project != before.Project || after.Name != before.Name {
			return fmt.Errorf("store: an update may not change a certificate's identity")
		}
		keyGuard, used := s.sealGuard(&after)
		value, err := encodeChange(&after, typ)
		if err != nil {
			return err
		}
		guard, err := s.ownerGuard(account, project, id)
		if err != nil {
			return err
		}
		change := store.Change{Type: typ, CertificateID: id, Account: account, Project: project, Before: before, After: &after, At: after.UpdatedAt}
		ops, audited, err := s.auditOps(rec, change, clientv3.OpPut(ck, value))
		if err != nil {
			return err
		}
		w, err := s.cli.Txn(ctx).
			If(append(append(guard, keyGuard...), clientv3.Compare(clientv3.ModRevision(ck), "=", kv.ModRevision))...).
			Then(ops...).
			Commit()
		if err != nil {
			return etcdkv.Unavailable("update the certificate", s.prefix, err)
		}
		if !w.Succeeded && len(keyGuard) > 0 {
			if moved, err := s.keyStateMoved(ctx, used); err != nil {
				return err
			} else if moved {
				return etcdkv.ErrConflict
			}
		}
		if !w.Succeeded && len(guard) > 0 {
			return s.guardFailed(ctx, account, project, id)
		}
		if !w.Succeeded {
			return etcdkv.ErrConflict
		}
		after.Revision = uint64(w.Header.Revision)
		out = &after
		ch = change
		ch.Revision = after.Revision
		trim = audited
		return nil
	})
	if err != nil {
		return nil, store.Change{}, err
	}
	if ch.Revision != 0 {
		s.trimAudit(ctx, trim)
		s.published(ctx, ch.Revision)
	}
	return out, ch, nil
}

// DeleteCertificate removes a certificate and its name. check, when not
// nil, runs on the record as stored (a stand-in if it does not decode) and
// can veto the delete; the delete holds only if the record is still the
// one check saw, otherwise check runs again.
func (s *Store) DeleteCertificate(account, project, id string, check func(c *store.Certificate) error) (store.Change, error) {
	return s.deleteCertificate(nil, account, project, id, check)
}

func (s *Store) deleteCertificate(rec store.AuditFunc, account, project, id string, check func(c *store.Certificate) error) (store.Change, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ck := s.certKey(account, project, id)
	var out store.Change
	var trim string // the account whose audit trail the write added to
	err := etcdkv.Retry(ctx, func(ctx context.Context) error {
		before, kv, err := s.get(ctx, account, project, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(before); err != nil {
				return err
			}
		}
		ops := []clientv3.Op{clientv3.OpDelete(ck)}
		if before.Name != "" {
			ops = append(ops, clientv3.OpDelete(s.nameKey(account, project, before.Name)))
		}
		guard, err := s.ownerGuard(account, project, id)
		if err != nil {
			return err
		}
		change := store.Change{Type: store.ChangeDeleted, CertificateID: id, Account: account, Project: project, Before: before, At: before.UpdatedAt}
		ops, audited, err := s.auditOps(rec, change, ops...)
		if err != nil {
			return err
		}
		w, err := s.cli.Txn(ctx).
			If(append(guard, clientv3.Compare(clientv3.ModRevision(ck), "=", kv.ModRevision))...).
			Then(ops...).
			Commit()
		if err != nil {
			return etcdkv.Unavailable("delete the certificate", s.prefix, err)
		}
		if !w.Succeeded && len(guard) > 0 {
			return s.guardFailed(ctx, account, project, id)
		}
		if !w.Succeeded {
			return etcdkv.ErrConflict
		}
		out = change
		out.Revision = uint64(w.Header.Revision)
		trim = audited
		return nil
	})
	if err == nil {
		s.trimAudit(ctx, trim)
		s.published(ctx, out.Revision)
	}
	return out, err
}

// get reads one certificate, or its stand-in when its record does not
// decode (its name read from the index as it is now, not at the record's
// revision, which a compaction may have removed: a name's entry changes
// only when its certificate is created or deleted).
func (s *Store) get(ctx context.Context, account, project, id string) (*store.Certificate, *etcdkv.KeyValue, error) {
	resp, err := s.cli.Get(ctx, s.certKey(account, project, id))
	if err != nil {
		return nil, nil, etcdkv.Unavailable("read the certificate", s.prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, store.ErrNotFound
	}
	kv := resp.Kvs[0]
	c, err := s.decode(kv)
	if err == nil {
		return c, kv, nil
	}
	np := s.projectPrefix("names", account, project)
	names, nerr := s.cli.Get(ctx, np, clientv3.WithPrefix())
	if nerr != nil {
		return nil, nil, etcdkv.Unavailable("read the certificate name index", s.prefix, nerr)
	}
	p := newProject(resp.Header.Revision, "", np, nil, names.Kvs)
	return standIn(account, project, id, p.ids, err), kv, nil
}

// GetCertificate returns one certificate.
func (s *Store) GetCertificate(account, project, id string) (*store.Certificate, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	c, _, err := s.get(ctx, account, project, id)
	return c, err
}

// ListCertificates returns the certificates of a project ordered by name,
// starting after the name afterName ("" for the first page).
func (s *Store) ListCertificates(account, project, afterName string) ([]*store.Certificate, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	p, err := s.readProject(ctx, account, project)
	if err != nil {
		return nil, err
	}
	var out []*store.Certificate
	for _, name := range p.order {
		if name <= afterName {
			continue
		}
		id := p.names[name]
		c := p.cert(account, project, id)
		if c == nil {
			return nil, fmt.Errorf("name index points at missing certificate %s: %w", id, store.ErrNotFound)
		}
		out = append(out, c)
	}
	return out, nil
}

// ResolveCertificates returns the certificates of a project that have one
// of the names or one of the ids, read at one revision. Unknown names and
// ids are left out.
func (s *Store) ResolveCertificates(account, project string, names, ids []string) ([]*store.Certificate, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	p, err := s.readProject(ctx, account, project)
	if err != nil {
		return nil, err
	}
	var out []*store.Certificate
	seen := map[string]bool{}
	add := func(id string) {
		if c := p.cert(account, project, id); c != nil && !seen[id] {
			seen[id] = true
			out = append(out, c)
		}
	}
	for _, n := range names {
		if id, ok := p.names[n]; ok {
			add(id)
		}
	}
	for _, id := range ids {
		add(id)
	}
	return out, nil
}

// Snapshot returns every certificate, ordered by revision, read in one
// linearizable read, and the revision of the change feed they reflect:
// the last change at or before the read, so that a subscriber resumes
// from it on any replica.
func (s *Store) Snapshot() ([]*store.Certificate, uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	for {
		list, rev, err := s.snapshot(ctx)
		if err != nil {
			return nil, 0, err
		}
		head, ok, err := s.snapshotRevision(ctx, rev)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return list, head, nil
		}
	}
}

// snapshot reads every certificate and the etcd revision of the read.
func (s *Store) snapshot(ctx context.Context) ([]*store.Certificate, int64, error) {
	cp, np := s.prefix+"certs/", s.prefix+"names/"
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(cp, clientv3.WithPrefix()),
		clientv3.OpGet(np, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, 0, etcdkv.Unavailable("read every certificate", s.prefix, err)
	}
	// The name of a certificate, by "account/project/id", for stand-ins.
	names := map[string]string{}
	for _, kv := range etcdkv.Values(resp, 1) {
		rest := string(kv.Key[len(np):])
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			names[rest[:i+1]+string(kv.Value)] = rest[i+1:]
		}
	}
	var out []*store.Certificate
	for _, kv := range etcdkv.Values(resp, 0) {
		c, err := s.decode(kv)
		if err != nil {
			// One damaged record harms only itself.
			account, project, id, _ := splitKey(cp, string(kv.Key))
			if id == "" {
				// Not a certificate's key at all: no stand-in can name it.
				continue
			}
			c = standIn(account, project, id, map[string]string{id: names[account+"/"+project+"/"+id]}, err)
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, resp.Header.Revision, nil
}
