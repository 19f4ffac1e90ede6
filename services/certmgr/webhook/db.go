package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

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

// hooksOf returns an account's webhooks.
func hooksOf(tx kvTx, account string) ([]*Hook, error) {
	var out []*Hook
	err := tx.scan(bucketHooks, accountPrefix(account), false, func(k, v []byte) (bool, error) {
		var h Hook
		if err := json.Unmarshal(v, &h); err != nil {
			return false, fmt.Errorf("webhook record %q does not decode: %w", k, err)
		}
		out = append(out, &h)
		return true, nil
	})
	return out, err
}

// findHook finds an account's webhook by id or name.
func findHook(tx kvTx, account, ref string) (*Hook, error) {
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
func nextSeq(tx kvTx) (uint64, error) {
	v, err := tx.get(bucketMeta, keySeq)
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, tx.put(bucketMeta, keySeq, u64(n))
}

// keyPendingCounted marks records whose accounts' waiting deliveries are
// counted (pendingKey); records written before the counts were kept are
// counted once, at start.
var keyPendingCounted = []byte("pendingCounted")

// pendingKey is the meta key that counts an account's deliveries waiting
// to be sent (those in the due bucket), which Config.MaxPending bounds.
func pendingKey(account string) []byte { return append([]byte("pending\x00"), account...) }

func pendingOf(tx kvTx, account string) (int, error) {
	v, err := tx.get(bucketMeta, pendingKey(account))
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return int(min(binary.BigEndian.Uint64(v), 1<<31)), nil
}

// addPending moves an account's count of waiting deliveries by delta,
// never below zero.
func addPending(tx kvTx, account string, delta int) error {
	n, err := pendingOf(tx, account)
	if err != nil {
		return err
	}
	if n+delta <= 0 {
		return tx.del(bucketMeta, pendingKey(account))
	}
	return tx.put(bucketMeta, pendingKey(account), u64(uint64(n+delta)))
}

// leaveDue takes a delivery out of the due bucket, and out of its
// account's count of waiting deliveries if it was there.
func leaveDue(tx kvTx, account string, seq uint64) error {
	v, err := tx.get(bucketDue, u64(seq))
	if err != nil || v == nil {
		return err
	}
	if err := tx.del(bucketDue, u64(seq)); err != nil {
		return err
	}
	return addPending(tx, account, -1)
}

// countPending counts each account's waiting deliveries once, for records
// written before the counts were kept; it writes nothing when they are.
func (d *Dispatcher) countPending() error {
	return d.db.update(false, func(tx kvTx) error {
		if v, err := tx.get(bucketMeta, keyPendingCounted); err != nil || v != nil {
			return err
		}
		counts := map[string]int{}
		err := tx.scan(bucketDue, nil, false, func(_, acct []byte) (bool, error) {
			counts[string(acct)]++
			return true, nil
		})
		if err != nil {
			return err
		}
		for account, n := range counts {
			if tx.full() {
				return fmt.Errorf("counting the webhook deliveries waiting: %d accounts have some, more than one transaction holds", len(counts))
			}
			if err := tx.put(bucketMeta, pendingKey(account), u64(uint64(n))); err != nil {
				return err
			}
		}
		return tx.put(bucketMeta, keyPendingCounted, []byte{1})
	})
}

// enqueue records one delivery of p to every webhook of p's account that
// wants its event, in tx.
func (d *Dispatcher) enqueue(tx kvTx, p Payload, now time.Time) error {
	hooks, err := hooksOf(tx, p.Account)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if !h.wants(p.Event) {
			continue
		}
		pending, err := pendingOf(tx, p.Account)
		if err != nil {
			return err
		}
		if pending >= d.cfg.MaxPending {
			d.dropped(tx, p.Account, h.ID, p.Event)
			continue
		}
		if err := addPending(tx, p.Account, 1); err != nil {
			return err
		}
		seq, err := nextSeq(tx)
		if err != nil {
			return err
		}
		p.ID = fmt.Sprintf("dlv_%016x", seq)
		p.Time = now.UTC()
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		del := Delivery{ID: p.ID, Seq: seq, Account: p.Account, WebhookID: h.ID, Event: p.Event,
			CertificateID: p.Certificate.ID, CertificateName: p.Certificate.Name, Body: body,
			State: StatePending, NextAttempt: now, CreatedAt: now.UTC()}
		if err := putJSON(tx, bucketDeliveries, deliveryKey(p.Account, seq), del); err != nil {
			return err
		}
		if err := tx.put(bucketDue, u64(seq), []byte(p.Account)); err != nil {
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
// delivery log's bound. Pending ones are kept whatever their number. It
// stops when the transaction is full: the next trim takes the rest.
func (d *Dispatcher) trimLog(tx kvTx, account string) error {
	prefix := accountPrefix(account)
	n, err := tx.count(bucketDeliveries, prefix)
	if err != nil || n <= d.cfg.LogSize {
		return err
	}
	var keys [][]byte
	err = tx.scan(bucketDeliveries, prefix, false, func(k, _ []byte) (bool, error) {
		keys = append(keys, bytes.Clone(k))
		return true, nil
	})
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	err = tx.scan(bucketDue, nil, false, func(k, v []byte) (bool, error) {
		if string(v) == account {
			pending[string(k)] = true
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	over := len(keys) - d.cfg.LogSize
	for _, k := range keys {
		if over == 0 || tx.full() {
			break
		}
		if pending[string(k[len(prefix):])] {
			continue
		}
		if err := tx.del(bucketDeliveries, k); err != nil {
			return err
		}
		over--
	}
	return nil
}
