package webhook

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// kvBolt is the webhook file, webhooks.db next to certmgr.db. One process
// holds it (bbolt's lock), so it has no leader to check and no write
// budget.
type kvBolt struct{ db *bolt.DB }

// openBolt opens (or creates) the webhook file.
func openBolt(path string) (*kvBolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open webhook file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open webhook file %s: %w", path, err)
	}
	return &kvBolt{db: db}, nil
}

func (k *kvBolt) view(fn func(kvTx) error) error {
	return k.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (k *kvBolt) update(_ bool, fn func(kvTx) error) error {
	return k.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (k *kvBolt) close() error { return k.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) get(bucket, key []byte) ([]byte, error) { return t.tx.Bucket(bucket).Get(key), nil }

func (t boltTx) put(bucket, key, value []byte) error { return t.tx.Bucket(bucket).Put(key, value) }

func (t boltTx) del(bucket, key []byte) error { return t.tx.Bucket(bucket).Delete(key) }

func (t boltTx) full() bool { return false }

func (t boltTx) onCommit(fn func()) { t.tx.OnCommit(fn) }

func (t boltTx) prefetch(_, _ []byte) error { return nil }

func (t boltTx) count(bucket, prefix []byte) (int, error) {
	n := 0
	c := t.tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n, nil
}

func (t boltTx) scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	c := t.tx.Bucket(bucket).Cursor()
	var k, v []byte
	next := c.Next
	if reverse {
		next = c.Prev
		// The first key past the prefix's range, then one back.
		if end := prefixEnd(prefix); end == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Seek(prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// prefixEnd is the smallest key greater than every key that starts with
// prefix, nil when there is none (an empty prefix, or one of 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
