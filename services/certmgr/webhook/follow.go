package webhook

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/certmgr/store"
)

// followBatch is how many changes one transaction of the webhook file
// records.
const followBatch = 256

// follow records the events of the changes after the cursor, a batch per
// transaction that also moves the cursor. A webhook file that follows
// nothing yet, or followed another epoch of the store (a restore), starts
// from a snapshot and announces nothing of it but expiry.
func (d *Dispatcher) follow() error {
	for {
		cursor, epoch, err := d.cursor()
		if err != nil {
			return err
		}
		if epoch != d.cfg.Source.Epoch() {
			if err := d.reseed("the webhook file follows no store yet, or another epoch of it"); err != nil {
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
			if err := d.reseed("cursor outside the changelog"); err != nil {
				return err
			}
			continue
		}
		if len(changes) == 0 {
			return nil
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
		err = d.db.Update(func(tx *bolt.Tx) error {
			for i, e := range changes {
				if err := d.record(tx, e, current[i], now); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyCursor, u64(changes[len(changes)-1].Revision))
		})
		if err != nil {
			return err
		}
	}
}

func (d *Dispatcher) cursor() (cursor uint64, epoch string, err error) {
	err = d.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyCursor); len(v) == 8 {
			cursor = binary.BigEndian.Uint64(v)
		}
		epoch = string(meta.Get(keyEpoch))
		return nil
	})
	return cursor, epoch, err
}

// reseed tracks the certificates as a snapshot has them and sets the
// cursor to its revision. Certificates tracked already keep what was
// announced of their version.
func (d *Dispatcher) reseed(why string) error {
	certs, rev, err := d.cfg.Source.Snapshot()
	if err != nil {
		return err
	}
	d.cfg.Log.Info("webhook events start from the certificates as they are", slog.String("why", why), slog.Uint64("revision", rev))
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTracked)
		old := map[string]tracked{}
		if err := b.ForEach(func(k, v []byte) error {
			var t tracked
			if _, err := get(b, k, &t); err == nil {
				old[string(k)] = t
			}
			return nil
		}); err != nil {
			return err
		}
		for k := range old {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for _, c := range certs {
			if c.Damaged != "" {
				continue
			}
			t := track(c)
			if o, ok := old[string(trackedKey(c.Account, c.Project, c.ID))]; ok && o.Version == t.Version {
				t.Announced = o.Announced
			}
			if err := put(b, trackedKey(c.Account, c.Project, c.ID), t); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyEpoch, []byte(d.cfg.Source.Epoch())); err != nil {
			return err
		}
		return meta.Put(keyCursor, u64(rev))
	})
}

func track(c *store.Certificate) tracked {
	return tracked{ID: c.ID, Account: c.Account, Project: c.Project, Name: c.Name, Fingerprint: c.Fingerprint,
		NotAfter: c.NotAfter, Version: c.Version, State: c.State, Announced: -1}
}

// record updates what is tracked of e's certificate and queues the
// event e makes, if any.
func (d *Dispatcher) record(tx *bolt.Tx, e store.Entry, cur *store.Certificate, now time.Time) error {
	b := tx.Bucket(bucketTracked)
	key := trackedKey(e.Account, e.Project, e.CertificateID)
	var prev tracked
	had, err := get(b, key, &prev)
	if err != nil {
		had = false
	}
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
		if err := b.Delete(key); err != nil {
			return err
		}
	case cur != nil:
		t := track(cur)
		if had && prev.Version == t.Version {
			t.Announced = prev.Announced
		}
		if err := put(b, key, t); err != nil {
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
