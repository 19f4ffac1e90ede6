package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// undecodable is the error of a certificate record at key whose JSON does
// not decode. It names the certificate, never the record's bytes.
func undecodable(key []byte, err error) error {
	account, project, id := splitKey(key)
	return fmt.Errorf("%w: certificate %s in %s/%s (%v); it cannot be changed, only deleted: redeploy the deployments that use it with another certificate, delete it and upload it again, or restore the store from a backup",
		ErrUndecodable, id, account, project, err)
}

// readCert returns the certificate at key, or a stand-in that says it is
// damaged when its record does not decode, so that reads of a project or
// of the whole store are not failed by one record.
func readCert(tx *bolt.Tx, key []byte) (*Certificate, error) {
	v := tx.Bucket(bucketCerts).Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	var c Certificate
	if err := json.Unmarshal(v, &c); err != nil {
		return standIn(tx, key, err), nil
	}
	return &c, nil
}

// standIn is what reads return for the undecodable record at key: its id,
// account and project (from the key), its name (from the name index), and
// why it is damaged. It has no state, kind, types or material, so nothing
// can use it.
func standIn(tx *bolt.Tx, key []byte, err error) *Certificate {
	account, project, id := splitKey(key)
	c := &Certificate{ID: id, Account: account, Project: project, Damaged: fmt.Sprintf("its stored record does not decode (%v)", err)}
	prefix := projectPrefix(account, project)
	cur := tx.Bucket(bucketNames).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if string(v) == id {
			c.Name = string(k[len(prefix):])
			break
		}
	}
	return c
}

// splitKey splits a certificate key into account, project and id.
func splitKey(key []byte) (account, project, id string) {
	parts := bytes.SplitN(key, []byte{0}, 3)
	for len(parts) < 3 {
		parts = append(parts, nil)
	}
	return string(parts[0]), string(parts[1]), string(parts[2])
}
