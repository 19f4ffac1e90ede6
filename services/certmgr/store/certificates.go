package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Certificates are keyed by account, project and id, and indexed by account,
// project and name. Accounts and projects are validated slugs and names are
// JavaScript identifiers, so none can contain the NUL separator.
func certKey(account, project, id string) []byte {
	return []byte(account + "\x00" + project + "\x00" + id)
}

func nameKey(account, project, name string) []byte {
	return []byte(account + "\x00" + project + "\x00" + name)
}

func projectPrefix(account, project string) []byte {
	return []byte(account + "\x00" + project + "\x00")
}

// CreateCertificate stores a new certificate. It fails with ErrNameTaken when
// the name is in use in the account and project.
func (s *Store) CreateCertificate(c *Certificate) (Change, error) {
	return s.createCertificate(nil, c)
}

func (s *Store) createCertificate(rec AuditFunc, c *Certificate) (Change, error) {
	return s.writeAudited(rec, func(tx *bolt.Tx, rev uint64) (*Change, error) {
		names := tx.Bucket(bucketNames)
		nk := nameKey(c.Account, c.Project, c.Name)
		if names.Get(nk) != nil {
			return nil, fmt.Errorf("%w: %q", ErrNameTaken, c.Name)
		}
		certs := tx.Bucket(bucketCerts)
		ck := certKey(c.Account, c.Project, c.ID)
		if certs.Get(ck) != nil {
			return nil, fmt.Errorf("certificate id %s already exists", c.ID)
		}
		rec := *c
		rec.Revision = rev
		if err := putJSON(certs, ck, &rec); err != nil {
			return nil, err
		}
		if err := names.Put(nk, []byte(c.ID)); err != nil {
			return nil, err
		}
		return &Change{Type: ChangeCreated, CertificateID: c.ID, Account: c.Account, Project: c.Project, After: &rec, At: c.CreatedAt}, nil
	})
}

// UpdateCertificate loads a certificate, lets fn change it and stores the
// result as a change of the type fn returns. When fn returns an empty type
// nothing is written (an idempotent no-op such as disabling a disabled
// certificate) and the current record is returned with a zero Change.
func (s *Store) UpdateCertificate(account, project, id string, fn func(c *Certificate) (changeType string, err error)) (*Certificate, Change, error) {
	return s.updateCertificate(nil, account, project, id, fn)
}

func (s *Store) updateCertificate(rec AuditFunc, account, project, id string, fn func(c *Certificate) (changeType string, err error)) (*Certificate, Change, error) {
	var out *Certificate
	ch, err := s.writeAudited(rec, func(tx *bolt.Tx, rev uint64) (*Change, error) {
		certs := tx.Bucket(bucketCerts)
		ck := certKey(account, project, id)
		before, err := getCert(certs, ck)
		if err != nil {
			return nil, err
		}
		after := *before
		after.EnvironmentTypes = append([]string(nil), before.EnvironmentTypes...)
		typ, err := fn(&after)
		if err != nil {
			return nil, err
		}
		if typ == "" {
			out = before
			return nil, nil
		}
		if after.ID != before.ID || after.Account != before.Account || after.Project != before.Project || after.Name != before.Name {
			return nil, fmt.Errorf("store: an update may not change a certificate's identity")
		}
		after.Revision = rev
		if err := putJSON(certs, ck, &after); err != nil {
			return nil, err
		}
		out = &after
		return &Change{Type: typ, CertificateID: id, Account: account, Project: project, Before: before, After: &after, At: after.UpdatedAt}, nil
	})
	if err != nil {
		return nil, Change{}, err
	}
	return out, ch, nil
}

// DeleteCertificate removes a certificate and its name. check, when not nil,
// runs inside the transaction on the current record and can veto the delete.
func (s *Store) DeleteCertificate(account, project, id string, check func(c *Certificate) error) (Change, error) {
	return s.deleteCertificate(nil, account, project, id, check)
}

func (s *Store) deleteCertificate(rec AuditFunc, account, project, id string, check func(c *Certificate) error) (Change, error) {
	return s.writeAudited(rec, func(tx *bolt.Tx, rev uint64) (*Change, error) {
		certs := tx.Bucket(bucketCerts)
		ck := certKey(account, project, id)
		before, err := getCert(certs, ck)
		if errors.Is(err, ErrUndecodable) {
			// A damaged record can be deleted; check sees its stand-in.
			before, err = standIn(tx, ck, err), nil
		}
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(before); err != nil {
				return nil, err
			}
		}
		if err := certs.Delete(ck); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketNames).Delete(nameKey(account, project, before.Name)); err != nil {
			return nil, err
		}
		return &Change{Type: ChangeDeleted, CertificateID: id, Account: account, Project: project, Before: before, At: before.UpdatedAt}, nil
	})
}

// GetCertificate returns one certificate.
func (s *Store) GetCertificate(account, project, id string) (*Certificate, error) {
	var c *Certificate
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		c, err = readCert(tx, certKey(account, project, id))
		return err
	})
	return c, err
}

// ListCertificates returns the certificates of a project ordered by name,
// starting after the name afterName ("" for the first page).
func (s *Store) ListCertificates(account, project, afterName string) ([]*Certificate, error) {
	var out []*Certificate
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := projectPrefix(account, project)
		c := tx.Bucket(bucketNames).Cursor()
		start := prefix
		if afterName != "" {
			// The byte after the name's last byte sorts after every key
			// equal to it, so seeking there skips afterName itself.
			start = append(nameKey(account, project, afterName), 0)
		}
		for k, id := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			rec, err := readCert(tx, certKey(account, project, string(id)))
			if err != nil {
				return fmt.Errorf("name index points at missing certificate %s: %w", id, err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Snapshot returns every certificate and the revision they reflect, read in
// one transaction.
func (s *Store) Snapshot() ([]*Certificate, uint64, error) {
	var out []*Certificate
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx)
		return tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
			var c Certificate
			if err := json.Unmarshal(v, &c); err != nil {
				// One damaged record harms only itself: it is passed on
				// as a stand-in that says so (first, having no revision).
				out = append(out, standIn(tx, k, err))
				return nil
			}
			out = append(out, &c)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, rev, err
}

// ChangesSince returns up to limit changes with revisions after rev, the
// compaction point (every change after it is kept) and the head revision,
// all from one transaction.
func (s *Store) ChangesSince(rev uint64, limit int) (changes []Entry, compacted, head uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		compacted, head, err = s.log.Since(tx, rev, limit, func(v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			changes = append(changes, e)
			return nil
		})
		return err
	})
	return changes, compacted, head, err
}

func getCert(b *bolt.Bucket, key []byte) (*Certificate, error) {
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	var c Certificate
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, undecodable(key, err)
	}
	return &c, nil
}

// ResolveCertificates returns the certificates of a project that have one of
// the names or one of the ids, read in one transaction. Unknown names and ids
// are left out.
func (s *Store) ResolveCertificates(account, project string, names, ids []string) ([]*Certificate, error) {
	var out []*Certificate
	err := s.db.View(func(tx *bolt.Tx) error {
		seen := map[string]bool{}
		add := func(id string) error {
			if seen[id] {
				return nil
			}
			c, err := readCert(tx, certKey(account, project, id))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			seen[id] = true
			out = append(out, c)
			return nil
		}
		for _, n := range names {
			if id := tx.Bucket(bucketNames).Get(nameKey(account, project, n)); id != nil {
				if err := add(string(id)); err != nil {
					return err
				}
			}
		}
		for _, id := range ids {
			if err := add(id); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
