package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// keyKeyCheck holds, in the meta bucket, a value sealed with the master key
// (see seal.Sealer.NewCheck). It is an extra key in an existing bucket, so
// the schema version stays the same and older builds ignore it.
var keyKeyCheck = []byte("masterKeyCheck")

// ErrKeyCheckExists is returned by SetKeyCheck when the store already holds
// a check value.
var ErrKeyCheckExists = errors.New("store: the master key check value is already set")

// KeyCheck returns the master key check value, or nil if the store has none
// (it is new, or was written by a build from before check values).
func (s *Store) KeyCheck() ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get(keyKeyCheck))
		return nil
	})
	return v, err
}

// SetKeyCheck stores the master key check value. It never replaces one (the
// error is then ErrKeyCheckExists): the value binds the store to the key its
// data is sealed with. It takes no revision, since no certificate changes.
func (s *Store) SetKeyCheck(v []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyKeyCheck) != nil {
			return ErrKeyCheckExists
		}
		return meta.Put(keyKeyCheck, slices.Clone(v))
	})
}

// HasCertificates reports whether the store holds at least one certificate.
func (s *Store) HasCertificates() (bool, error) {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketCerts).Cursor().First()
		found = k != nil
		return nil
	})
	return found, err
}

// ForEachSealedKey calls fn with every certificate that holds a sealed
// private key, until fn returns an error, which it then returns. fn runs
// inside a read transaction and must not write to the store.
func (s *Store) ForEachSealedKey(fn func(c *Certificate) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
			var c Certificate
			if err := json.Unmarshal(v, &c); err != nil {
				// A record that cannot be read harms only itself; it says
				// nothing about which key the others were sealed with.
				return nil
			}
			if len(c.SealedKey) == 0 {
				return nil
			}
			return fn(&c)
		})
	})
}
