package store

import bolt "go.etcd.io/bbolt"

// DamageDeployment overwrites the stored deployment record of an
// environment with bytes that do not decode, as a torn or foreign write
// would leave it.
func DamageDeployment(s *Store, account, project, env string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		if b.Get(envKey(account, project, env)) == nil {
			return ErrNotFound
		}
		return b.Put(envKey(account, project, env), []byte(`{"id": "torn`))
	})
}
