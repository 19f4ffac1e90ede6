package store

import bolt "go.etcd.io/bbolt"

// DamageCertificate overwrites the stored record of a certificate with
// bytes that do not decode, as a torn or foreign write would leave it.
func DamageCertificate(s *Store, account, project, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCerts)
		if b.Get(certKey(account, project, id)) == nil {
			return ErrNotFound
		}
		return b.Put(certKey(account, project, id), []byte(`{"id": "torn`))
	})
}
