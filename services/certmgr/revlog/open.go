package revlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var keySchema = []byte("schema")

// Open opens, or creates, the bbolt file at path of a store made of buckets
// and a changelog kept in log. The schema version is recorded in log's meta
// bucket and checked on every open, so a build never reads a file laid out
// for another. owner names the program in the error for a file that
// another process holds open; timeout bounds the wait for it.
func Open(path, owner string, timeout time.Duration, schema uint64, log Log, buckets ...[]byte) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: the file is locked by another process (is another %s running on this data dir?)", path, owner)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := log.Init(tx); err != nil {
			return err
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(log.Meta)
		if v := meta.Get(keySchema); v != nil && binary.BigEndian.Uint64(v) != schema {
			return fmt.Errorf("schema version %d is not supported by this build of %s (it reads version %d)", binary.BigEndian.Uint64(v), owner, schema)
		}
		return meta.Put(keySchema, u64(schema))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
