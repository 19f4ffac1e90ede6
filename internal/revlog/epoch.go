package revlog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// keyEpoch holds the store's epoch in the meta bucket.
var keyEpoch = []byte("epoch")

// An epoch names one line of history of a store: revisions are comparable
// only within an epoch. A new store gets a random epoch, and a store
// restored from a backup gets a new one (Restamp), because after a restore
// the revisions start again from the backup's head and would collide with
// revisions that subscribers received from the store that was replaced.

// Epoch returns the store's epoch ("" for a store opened by no build that
// knows epochs; Open gives every store one).
func (l Log) Epoch(tx *bolt.Tx) string {
	return string(tx.Bucket(l.Meta).Get(keyEpoch))
}

// ensureEpoch gives a store without an epoch a new one.
func (l Log) ensureEpoch(tx *bolt.Tx) error {
	if l.Epoch(tx) != "" {
		return nil
	}
	_, err := l.newEpoch(tx)
	return err
}

// newEpoch records a new random epoch and returns it.
func (l Log) newEpoch(tx *bolt.Tx) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("new epoch: %w", err)
	}
	e := hex.EncodeToString(b[:])
	return e, tx.Bucket(l.Meta).Put(keyEpoch, []byte(e))
}

// Restamp gives the store in db a new epoch and returns it. A restore calls
// it on the restored file before any service opens it, so that a
// subscriber holding state from before the restore is told to resync
// whatever revision it resumes from.
func (l Log) Restamp(db *bolt.DB) (epoch string, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(l.Meta) == nil {
			return fmt.Errorf("the file holds no store (no %q bucket)", l.Meta)
		}
		epoch, err = l.newEpoch(tx)
		return err
	})
	return epoch, err
}
