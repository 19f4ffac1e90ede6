package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/certbind/certbind/services/certmgr/store"
)

// followBatch is how many changes one transaction of the webhook file
// records.
const followBatch = 256

// follow records the events of the changes after the cursor, a batch per
// transaction that also moves the cursor. A webhook file that follows
// nothing yet, or followed another epoch of the store (a restore), starts
// from a snapshot and announces nothing of it but expiry. On etcd a
// transaction that is full moves the cursor past the changes it holds,
// and the next takes the rest.
func (d *Dispatcher) follow() error {
	for {
		cursor, epoch, err := d.cursor()
		if err != nil {
			return err
		}
		if epoch != d.cfg.Source.Epoch() {
			if err := d.reseed("the webhook records follow no store yet, or another epoch of it", true, epoch); err != nil {
				return err
			}
			continue
		}
		changes, compacted, head, err := d.cfg.Source.ChangesSince(cursor, followBatch)
		if err != nil {
			return err
		}
		if cursor < compacted || cursor > head {
			d.cfg.Log.Warn("webhook events were missed: the changelog no longer holds the changes after the webhook cursor; starting again from the certificates as they are",
				slog.Uint64("cursor", cursor), slog.Uint64("compacted", compacted), slog.Uint64("head", head))
			if err := d.reseed("cursor outside the changelog", true, epoch); err != nil {
				return err
			}
			continue
		}
		if len(changes) == 0 {
			return d.keepUp(cursor, head)
		}
		// What the certificates are now, read before the transaction: the
		// event carries the metadata the certificate has when it is read.
		current := make([]*store.Certificate, len(changes))
		for i, e := range changes {
			c, err := d.cfg.Source.GetCertificate(e.Account, e.Project, e.CertificateID)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case c.Damaged == "":
				current[i] = c
			}
		}
		now := d.cfg.Now()
		// A transaction that is full records a part of the batch; the
		// next goes on from there.
		for len(changes) > 0 {
			n := 0
			err = d.db.update(true, func(tx kvTx) error {
				n = 0
				// The cursor read above is checked again here: a pass of
				// another leader (before a failover) may have moved it.
				var at uint64
				if v, err := tx.get(bucketMeta, keyCursor); err != nil {
					return err
				} else if len(v) == 8 {
					at = binary.BigEndian.Uint64(v)
				}
				if at != cursor {
					return nil
				}
				for i, e := range changes {
					if i > 0 && tx.full() {
						break
					}
					if err := d.record(tx, e, current[i], now); err != nil {
						return err
					}
					n++
				}
				return tx.put(bucketMeta, keyCursor, u64(changes[n-1].Revision))
			})
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			cursor = changes[n-1].Revision
			changes, current = changes[n:], current[n:]
		}
	}
}

// keepUp moves the cursor, on etcd, to a head that holds no change after
// it. There etcd's revision counts every write of the cluster, and its
// compaction moves on with time: a cursor left at the last certificate
// change would fall behind the compaction while certificates do not
// change, and a replica elected then (whose feed starts at etcd's
// compaction) would start again from the certificates for nothing. One
// write a pass, only when the revision moved.
func (d *Dispatcher) keepUp(cursor, head uint64) error {
	if d.etcd == nil || head <= cursor {
		return nil
	}
	return d.db.update(true, func(tx kvTx) error {
		v, err := tx.get(bucketMeta, keyCursor)
		if err != nil || len(v) != 8 || binary.BigEndian.Uint64(v) != cursor {
			return err
		}
		return tx.put(bucketMeta, keyCursor, u64(head))
	})
}

func (d *Dispatcher) cursor() (cursor uint64, epoch string, err error) {
	err = d.db.view(func(tx kvTx) error {
		v, err := tx.get(bucketMeta, keyCursor)
		if err != nil {
			return err
		}
		if len(v) == 8 {
			cursor = binary.BigEndian.Uint64(v)
		}
		e, err := tx.get(bucketMeta, keyEpoch)
		epoch = string(e)
		return err
	})
	return cursor, epoch, err
}

// reseed tracks the certificates as a snapshot has them and sets the
// cursor to its revision. Certificates tracked already keep what was
// announced of their version. On etcd it takes as many transactions as
// the certificates need, the epoch and cursor written in the last: a
// crash before it leaves them as they were, and the next pass reseeds
// again. That last write is made only if the epoch is still was (a
// replica that starts at the same time as another may find it done).
func (d *Dispatcher) reseed(why string, lead bool, was string) error {
	certs, rev, err := d.cfg.Source.Snapshot()
	if err != nil {
		return err
	}
	d.cfg.Log.Info("webhook events start from the certificates as they are", slog.String("why", why), slog.Uint64("revision", rev))
	want := map[string]tracked{}
	var keys []string
	for _, c := range certs {
		if c.Damaged != "" {
			continue
		}
		k := string(trackedKey(c.Account, c.Project, c.ID))
		want[k] = track(c)
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Drop what is tracked of certificates that are gone.
	for more := true; more; {
		err := d.db.update(lead, func(tx kvTx) error {
			more = false
			var gone [][]byte
			err := tx.scan(bucketTracked, nil, false, func(k, _ []byte) (bool, error) {
				if _, ok := want[string(k)]; !ok {
					gone = append(gone, bytes.Clone(k))
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, k := range gone {
				if tx.full() {
					more = true
					break
				}
				if err := tx.del(bucketTracked, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Track the others as they are, keeping what was announced of the
	// same version.
	for i := 0; i < len(keys); {
		next := i
		err := d.db.update(lead, func(tx kvTx) error {
			next = i
			for ; next < len(keys) && !tx.full(); next++ {
				k := []byte(keys[next])
				t := want[keys[next]]
				old, err := tx.get(bucketTracked, k)
				if err != nil {
					return err
				}
				var o tracked
				if old != nil && json.Unmarshal(old, &o) == nil && o.Version == t.Version {
					t.Announced = o.Announced
				}
				data, err := json.Marshal(t)
				if err != nil {
					return err
				}
				if bytes.Equal(data, old) {
					continue
				}
				if err := tx.put(bucketTracked, k, data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		i = next
	}
	return d.db.update(lead, func(tx kvTx) error {
		epoch, err := tx.get(bucketMeta, keyEpoch)
		if err != nil || string(epoch) != was {
			return err
		}
		if err := tx.put(bucketMeta, keyEpoch, []byte(d.cfg.Source.Epoch())); err != nil {
			return err
		}
		return tx.put(bucketMeta, keyCursor, u64(rev))
	})
}

func track(c *store.Certificate) tracked {
	return tracked{ID: c.ID, Account: c.Account, Project: c.Project, Name: c.Name, Fingerprint: c.Fingerprint,
		NotAfter: c.NotAfter, Version: c.Version, State: c.State, Announced: -1}
}

// record updates what is tracked of e's certificate and queues the
// event e makes, if any.
func (d *Dispatcher) record(tx kvTx, e store.Entry, cur *store.Certificate, now time.Time) error {
	key := trackedKey(e.Account, e.Project, e.CertificateID)
	var prev tracked
	data, err := tx.get(bucketTracked, key)
	if err != nil {
		return err
	}
	// A record that does not decode is taken as none.
	had := data != nil && json.Unmarshal(data, &prev) == nil
	var event string
	switch e.Type {
	case store.ChangeCreated:
		event = EventCreated
	case store.ChangeRotated:
		event = EventRotated
	case store.ChangeDisabled:
		event = EventDisabled
	case store.ChangeEnabled:
		event = EventEnabled
	case store.ChangeDeleted:
		event = EventDeleted
	}
	about := prev
	if !had {
		about = tracked{ID: e.CertificateID, Account: e.Account, Project: e.Project, Version: e.Version, Announced: -1}
	}
	switch {
	case e.Type == store.ChangeDeleted:
		if err := tx.del(bucketTracked, key); err != nil {
			return err
		}
	case cur != nil:
		t := track(cur)
		if had && prev.Version == t.Version {
			t.Announced = prev.Announced
		}
		if err := putJSON(tx, bucketTracked, key, t); err != nil {
			return err
		}
		about = t
	}
	if event == "" {
		return nil
	}
	return d.enqueue(tx, payloadOf(event, about), now)
}

func payloadOf(event string, t tracked) Payload {
	return Payload{Event: event, Account: t.Account, Certificate: PayloadCertificate{
		ID: t.ID, Project: t.Project, Name: t.Name, FingerprintSHA256: t.Fingerprint, NotAfter: t.NotAfter, Version: t.Version}}
}
