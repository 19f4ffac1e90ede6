package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

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

// AppendOldFormatChange appends c to the changelog as the deploytracker
// wrote entries before Entry: the whole deployments before and after the
// change (the old encoder), at the next revision.
func AppendOldFormatChange(s *Store, c Change) (uint64, error) {
	type oldChange struct {
		Revision     uint64      `json:"revision"`
		Type         string      `json:"type"`
		DeploymentID string      `json:"deploymentId"`
		Account      string      `json:"account"`
		Project      string      `json:"project"`
		Before       *Deployment `json:"before,omitempty"`
		After        *Deployment `json:"after,omitempty"`
		At           time.Time   `json:"at"`
	}
	var rev uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx) + 1
		return s.log.Append(tx, rev, oldChange{Revision: rev, Type: c.Type, DeploymentID: c.DeploymentID, Account: c.Account, Project: c.Project, Before: c.Before, After: c.After, At: c.At})
	})
	return rev, err
}
