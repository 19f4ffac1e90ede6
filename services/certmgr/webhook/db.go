package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta       = []byte("meta")
	bucketHooks      = []byte("hooks")
	bucketDeliveries = []byte("deliveries")
	bucketDue        = []byte("due")
	bucketTracked    = []byte("tracked")

	keyCursor = []byte("cursor")
	keyEpoch  = []byte("epoch")
	keySeq    = []byte("seq")
)

// openDB opens (or creates) the webhook file.
func openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open webhook file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketHooks, bucketDeliveries, bucketDue, bucketTracked} {
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
	return db, nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func accountKey(account, id string) []byte {
	return append(append([]byte(account), 0), id...)
}

func accountPrefix(account string) []byte { return append([]byte(account), 0) }

func deliveryKey(account string, seq uint64) []byte {
	return append(accountPrefix(account), u64(seq)...)
}

func trackedKey(account, project, id string) []byte {
	return append(append(append(accountPrefix(account), project...), 0), id...)
}

func put(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func get(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("webhook record %q does not decode: %w", k, err)
	}
	return true, nil
}

// hooksOf returns an account's webhooks.
func hooksOf(tx *bolt.Tx, account string) ([]*Hook, error) {
	var out []*Hook
	prefix := accountPrefix(account)
	c := tx.Bucket(bucketHooks).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var h Hook
		if err := json.Unmarshal(v, &h); err != nil {
			return nil, fmt.Errorf("webhook record %q does not decode: %w", k, err)
		}
		out = append(out, &h)
	}
	return out, nil
}

// findHook finds an account's webhook by id or name.
func findHook(tx *bolt.Tx, account, ref string) (*Hook, error) {
	hooks, err := hooksOf(tx, account)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if h.ID == ref || h.Name == ref {
			return h, nil
		}
	}
	return nil, ErrNotFound
}

// nextSeq takes the next delivery sequence number.
func nextSeq(tx *bolt.Tx) uint64 {
	meta := tx.Bucket(bucketMeta)
	var n uint64
	if v := meta.Get(keySeq); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	_ = meta.Put(keySeq, u64(n))
	return n
}

// enqueue records one delivery of p to every webhook of p's account that
// wants its event, in tx.
func (d *Dispatcher) enqueue(tx *bolt.Tx, p Payload, now time.Time) error {
	hooks, err := hooksOf(tx, p.Account)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if !h.wants(p.Event) {
			continue
		}
		seq := nextSeq(tx)
		p.ID = fmt.Sprintf("dlv_%016x", seq)
		p.Time = now.UTC()
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		del := Delivery{ID: p.ID, Seq: seq, Account: p.Account, WebhookID: h.ID, Event: p.Event,
			CertificateID: p.Certificate.ID, CertificateName: p.Certificate.Name, Body: body,
			State: StatePending, NextAttempt: now, CreatedAt: now.UTC()}
		if err := put(tx.Bucket(bucketDeliveries), deliveryKey(p.Account, seq), del); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDue).Put(u64(seq), []byte(p.Account)); err != nil {
			return err
		}
		d.queued(tx, p.Event)
		if err := d.trimLog(tx, p.Account); err != nil {
			return err
		}
	}
	return nil
}

// trimLog drops an account's oldest finished deliveries beyond the
// delivery log's bound. Pending ones are kept whatever their number.
func (d *Dispatcher) trimLog(tx *bolt.Tx, account string) error {
	prefix := accountPrefix(account)
	b := tx.Bucket(bucketDeliveries)
	c := b.Cursor()
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	due := tx.Bucket(bucketDue)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && n > d.cfg.LogSize; {
		seq := k[len(prefix):]
		if due.Get(seq) != nil {
			k, _ = c.Next()
			continue
		}
		at := bytes.Clone(k)
		if err := c.Delete(); err != nil {
			return err
		}
		n--
		k, _ = c.Seek(at)
	}
	return nil
}
