package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PutAPIKey stores an API key record under its hash. API keys are not
// certificate changes, so they take no revision.
func (s *Store) PutAPIKey(k APIKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		if b.Get([]byte(k.Hash)) != nil {
			return fmt.Errorf("api key hash collision")
		}
		return putJSON(b, []byte(k.Hash), k)
	})
}

// APIKeyByHash returns the key whose secret hashes to hash.
func (s *Store) APIKeyByHash(hash string) (APIKey, error) {
	var k APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAPIKeys).Get([]byte(hash))
		if v == nil {
			return ErrKeyNotFound
		}
		return json.Unmarshal(v, &k)
	})
	return k, err
}

// ListAPIKeys returns the keys of account (every key when account is
// empty), oldest first. Keys are few (people make them), so they are kept by
// hash only and listed by a scan.
func (s *Store) ListAPIKeys(account string) ([]APIKey, error) {
	var out []APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).ForEach(func(_, v []byte) error {
			var k APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("read api key record: %w", err)
			}
			if account == "" || k.Account == account {
				out = append(out, k)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, err
}

// RevokeAPIKey marks the key with this id revoked at at, and returns it.
// When account is not empty, a key of another account is ErrKeyNotFound,
// as a missing one is. A key already revoked keeps its first RevokedAt. The
// write is synced before RevokeAPIKey returns.
func (s *Store) RevokeAPIKey(id, account string, at time.Time) (APIKey, error) {
	var out APIKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		c := b.Cursor()
		for hash, v := c.First(); hash != nil; hash, v = c.Next() {
			var k APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("read api key record: %w", err)
			}
			if k.ID != id {
				continue
			}
			if account != "" && k.Account != account {
				return ErrKeyNotFound
			}
			if k.RevokedAt == nil {
				at := at.UTC()
				k.RevokedAt = &at
				if err := putJSON(b, hash, k); err != nil {
					return err
				}
			}
			out = k
			return nil
		}
		return ErrKeyNotFound
	})
	return out, err
}

// RevokedAPIKeyIDs returns the ids of every revoked key.
func (s *Store) RevokedAPIKeyIDs() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).ForEach(func(_, v []byte) error {
			var k APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("read api key record: %w", err)
			}
			if k.RevokedAt != nil {
				ids = append(ids, k.ID)
			}
			return nil
		})
	})
	return ids, err
}

// TouchAPIKeys records when keys were last used, in one transaction: used
// maps key ids to times. A time older than the one stored is ignored, and
// ids that are not stored (the admin key) are skipped.
func (s *Store) TouchAPIKeys(used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		type update struct {
			hash []byte
			k    APIKey
		}
		var updates []update
		err := b.ForEach(func(hash, v []byte) error {
			var k APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("read api key record: %w", err)
			}
			at, ok := used[k.ID]
			if !ok || (k.LastUsedAt != nil && !at.After(*k.LastUsedAt)) {
				return nil
			}
			at = at.UTC()
			k.LastUsedAt = &at
			updates = append(updates, update{slices.Clone(hash), k})
			return nil
		})
		if err != nil {
			return err
		}
		// A bucket may not be changed while ForEach walks it.
		for _, u := range updates {
			if err := putJSON(b, u.hash, u.k); err != nil {
				return err
			}
		}
		return nil
	})
}
