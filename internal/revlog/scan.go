package revlog

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// ScanBatch is how many records one read transaction of Scan reads. A bbolt
// writer that must grow the file waits for every open read transaction, so
// a scan of a big store reads it in many short ones.
const ScanBatch = 512

// Scan reads every record of bucket in key order, ScanBatch records per
// read transaction. visit runs inside the transaction and must copy what it
// keeps; flush, when not nil, runs after each transaction, outside it, so
// that slow work on what visit kept (unsealing keys) holds no transaction
// open. A write that lands during the scan may or may not be seen.
func Scan(db *bolt.DB, bucket []byte, visit func(tx *bolt.Tx, k, v []byte), flush func() error) error {
	var after []byte
	for {
		n := 0
		err := db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < ScanBatch; k, v = c.Next() {
				visit(tx, k, v)
				after = append(after[:0], k...)
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if flush != nil {
			if err := flush(); err != nil {
				return err
			}
		}
		if n < ScanBatch {
			return nil
		}
	}
}

// Check counts the log's entries and returns the revisions of those that
// decode does not take, reading as Scan does.
func (l Log) Check(db *bolt.DB, decode func([]byte) error) (n int64, undecodable []uint64, err error) {
	err = Scan(db, l.Log, func(_ *bolt.Tx, k, v []byte) {
		n++
		if decode(v) != nil {
			undecodable = append(undecodable, binary.BigEndian.Uint64(k))
		}
	}, nil)
	return n, undecodable, err
}
