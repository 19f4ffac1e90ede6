// Package revlog keeps a revisioned changelog in a bbolt bucket: the durable
// log behind a changefeed.Hub. certmgr's and the deploytracker's stores both
// append one entry per write, in the write's own transaction.
package revlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Log is a changelog in one bucket, with the head revision in a meta
// bucket. Every method works inside the caller's transaction, so a store
// appends a change in the same transaction as the write it records.
type Log struct {
	// Log and Meta name the buckets.
	Log, Meta []byte
	// Retention is how many entries are kept.
	Retention int
}

var keyHead = []byte("revision")

// Init creates the buckets.
func (l Log) Init(tx *bolt.Tx) error {
	for _, b := range [][]byte{l.Log, l.Meta} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// Head returns the revision of the last appended entry (0 for none).
func (l Log) Head(tx *bolt.Tx) uint64 {
	v := tx.Bucket(l.Meta).Get(keyHead)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Append stores entry as revision rev, which must be Head+1, and trims the
// log to the retention.
func (l Log) Append(tx *bolt.Tx, rev uint64, entry any) error {
	if head := l.Head(tx); rev != head+1 {
		return fmt.Errorf("changelog: appending revision %d after %d", rev, head)
	}
	data, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	log := tx.Bucket(l.Log)
	if err := log.Put(u64(rev), data); err != nil {
		return err
	}
	if err := tx.Bucket(l.Meta).Put(keyHead, u64(rev)); err != nil {
		return err
	}
	// Revisions in the log are contiguous, so the oldest key alone says how
	// many there are; usually exactly one entry goes.
	var old [][]byte
	c := log.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k)+uint64(l.Retention) <= rev; k, _ = c.Next() {
		old = append(old, k)
	}
	for _, k := range old {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ErrUndecodable is wrapped by Since's error when decode refuses an entry.
var ErrUndecodable = errors.New("a change in the history does not decode")

// Since decodes up to limit entries after rev into decode, in order, and
// returns the compaction point (every entry after it is kept: the one
// before the oldest entry, or the head when the log is empty) and the head.
// An entry decode refuses ends it with an error that wraps ErrUndecodable.
func (l Log) Since(tx *bolt.Tx, rev uint64, limit int, decode func([]byte) error) (compacted, head uint64, err error) {
	head = l.Head(tx)
	c := tx.Bucket(l.Log).Cursor()
	compacted = head
	if k, _ := c.First(); k != nil {
		compacted = binary.BigEndian.Uint64(k) - 1
	}
	n := 0
	for k, v := c.Seek(u64(rev + 1)); k != nil && n < limit; k, v = c.Next() {
		if err := decode(v); err != nil {
			return 0, 0, fmt.Errorf("%w: changelog entry %d (%v)", ErrUndecodable, binary.BigEndian.Uint64(k), err)
		}
		n++
	}
	return compacted, head, nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
