package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrUndecodable: a stored deployment record does not decode. Reads return
// a stand-in with Deployment.Damaged set; a redeploy of its environment or
// a delete replaces it.
var ErrUndecodable = errors.New("stored deployment record does not decode")

// standIn is what reads return for the undecodable deployment record at
// key: its account, project and environment (from the key), its id (from
// the id index), and why it is damaged. It has no routes and no
// references, so nothing serves it.
func standIn(tx *bolt.Tx, key []byte, err error) *Deployment {
	account, project, env := splitKey(key)
	cause := err
	if w, ok := err.(interface{ Unwrap() []error }); ok {
		cause = w.Unwrap()[len(w.Unwrap())-1] // the JSON error of getDeployment
	}
	d := &Deployment{Account: account, Project: project, Environment: env, Damaged: fmt.Sprintf("its stored record does not decode (%v)", cause)}
	prefix := projectPrefix(account, project)
	cur := tx.Bucket(bucketIDs).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if string(v) == env {
			d.ID = string(k[len(prefix):])
			break
		}
	}
	return d
}

// splitKey splits a deployment key into account, project and environment.
func splitKey(key []byte) (account, project, env string) {
	parts := bytes.SplitN(key, []byte{0}, 3)
	for len(parts) < 3 {
		parts = append(parts, nil)
	}
	return string(parts[0]), string(parts[1]), string(parts[2])
}
