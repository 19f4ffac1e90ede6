package store

import (
	"encoding/json"
	"fmt"

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
