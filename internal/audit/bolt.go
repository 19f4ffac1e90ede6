package audit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Log is an audit trail in a bbolt file: under the bucket Bucket, one nested
// bucket per account holding its entries keyed by sequence (big-endian, so
// in order), and under Counts each account's number of entries, so that
// trimming to the retention needs no count of the entries.
type Log struct {
	Bucket, Counts []byte
	Retention      Retention
}

// Buckets are the top-level buckets the log needs created at open.
func (l Log) Buckets() [][]byte { return [][]byte{l.Bucket, l.Counts} }

// maxAgeTrim bounds how many entries past their age one Append removes, so
// that the first write after a long pause does not grow its transaction
// without bound; later writes take the rest.
const maxAgeTrim = 64

// Append adds e to its account in tx, setting its Seq, and drops the
// account's oldest entries beyond the retention.
func (l Log) Append(tx *bolt.Tx, e *Entry) error {
	r := l.Retention.withDefaults()
	account := []byte(e.AccountOf())
	top := tx.Bucket(l.Bucket)
	counts := tx.Bucket(l.Counts)
	if top == nil || counts == nil {
		return fmt.Errorf("audit: the store has no audit buckets")
	}
	b, err := top.CreateBucketIfNotExists(account)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := b.Put(seqKey(seq), data); err != nil {
		return err
	}
	n := uint64(1)
	if v := counts.Get(account); len(v) == 8 {
		n += binary.BigEndian.Uint64(v)
	}
	// Collect first, then delete: deleting under a cursor moves it.
	var drop [][]byte
	cutoff := e.Time.Add(-r.MaxAge)
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(drop) < maxAgeTrim+1; k, v = c.Next() {
		if n-uint64(len(drop)) > uint64(r.PerAccount) || olderThan(v, cutoff) {
			drop = append(drop, k)
			continue
		}
		break
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	n -= uint64(len(drop))
	return counts.Put(account, binary.BigEndian.AppendUint64(nil, n))
}

// Record appends e in a transaction of its own, for a refused write.
func (l Log) Record(db *bolt.DB, e Entry) error {
	return db.Update(func(tx *bolt.Tx) error { return l.Append(tx, &e) })
}

func olderThan(v []byte, cutoff time.Time) bool {
	var t struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(v, &t) != nil {
		return false
	}
	return t.Time.Before(cutoff)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// List returns the entries of q.Account that match q, newest first, and the
// token of the next page ("" on the last page). Entries past their age are
// not listed even before a write trims them.
func (l Log) List(tx *bolt.Tx, q Query, now time.Time) ([]Entry, string, error) {
	top := tx.Bucket(l.Bucket)
	if top == nil {
		return nil, "", nil
	}
	b := top.Bucket([]byte(q.Account))
	if b == nil {
		return nil, "", nil
	}
	size := q.PageSize
	if size <= 0 || size > MaxPageSize {
		size = DefaultPageSize
	}
	since := now.Add(-l.Retention.withDefaults().MaxAge)
	if q.Since.After(since) {
		since = q.Since
	}
	c := b.Cursor()
	var k, v []byte
	if q.Before > 0 {
		if first, _ := c.Seek(seqKey(q.Before)); first == nil {
			k, v = c.Last() // every entry is before the token
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	var out []Entry
	for ; k != nil; k, v = c.Prev() {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			// An entry that does not decode is skipped, not fatal: the
			// trail of one account stays readable around it.
			continue
		}
		if e.Time.Before(since) {
			break
		}
		if !q.matches(&e) {
			continue
		}
		if len(out) == size {
			return out, EncodePageToken(out[len(out)-1].Seq), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}
