package webhook

import (
	"encoding/json"
	"fmt"
)

// kv is where the dispatcher keeps its records: the webhook file
// (kvBolt) or etcd under certmgr's prefix (kvEtcd). Records live in named
// buckets, each a sorted map of byte keys to values.
type kv interface {
	// view runs fn in a read-only transaction.
	view(fn func(tx kvTx) error) error
	// update runs fn in a read-write transaction and commits its writes
	// together. fn may run more than once (etcd runs it again when another
	// write got in first), so it must start from scratch each time: a
	// closure that fills an outer variable resets it first. With lead, the
	// writes are recorded only while this replica leads the dispatch
	// (errNotLeader otherwise); the bbolt file has one process and ignores
	// it.
	update(lead bool, fn func(tx kvTx) error) error
	close() error
}

// kvTx is one transaction of a kv. Reads see the transaction's own writes.
type kvTx interface {
	// get returns the value of key in bucket, nil when there is none.
	get(bucket, key []byte) ([]byte, error)
	put(bucket, key, value []byte) error
	del(bucket, key []byte) error
	// scan calls fn with each key of bucket that starts with prefix, and
	// its value, in key order (from the last with reverse), until fn
	// returns false or an error. fn must not write: it collects, and the
	// caller writes after the scan.
	scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) (bool, error)) error
	// count returns how many keys of bucket start with prefix.
	count(bucket, prefix []byte) (int, error)
	// prefetch says that many keys under prefix will be read: etcd reads
	// the range once rather than a key at a time. The bbolt file reads
	// nothing ahead.
	prefetch(bucket, prefix []byte) error
	// onCommit runs fn once the transaction's writes are committed (not
	// at all when it fails, nor for a run etcd makes again).
	onCommit(fn func())
	// full reports that the transaction holds as many writes as one commit
	// should: the caller stops, commits, and goes on in another
	// transaction. Never true on the bbolt file.
	full() bool
}

var (
	bucketMeta       = []byte("meta")
	bucketHooks      = []byte("hooks")
	bucketDeliveries = []byte("deliveries")
	bucketDue        = []byte("due")
	bucketTracked    = []byte("tracked")

	buckets = [][]byte{bucketMeta, bucketHooks, bucketDeliveries, bucketDue, bucketTracked}

	keyCursor = []byte("cursor")
	keyEpoch  = []byte("epoch")
	keySeq    = []byte("seq")
)

func putJSON(tx kvTx, bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.put(bucket, k, data)
}

// getJSON decodes the record at k into v; false when there is none.
func getJSON(tx kvTx, bucket, k []byte, v any) (bool, error) {
	data, err := tx.get(bucket, k)
	if err != nil || data == nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("webhook record %q does not decode: %w", k, err)
	}
	return true, nil
}
