package webhook

import (
	"encoding/json"
	"log/slog"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// SealSecretsAgain seals again, under the master key's current primary,
// each webhook secret sealed under another key of the ring. A master-key
// rotation calls it before the store switches to the new key: the retired
// key is not in the ring at the next start, and a secret still sealed
// under it could not sign. Each pass and Close call it too. A secret that
// opens under no key of the ring is left as it is (its deliveries fail
// saying so). Each webhook is read again in the writing transaction, so
// one deleted meanwhile is not put back.
func (d *Dispatcher) SealSecretsAgain() error {
	return d.rewrapSecrets()
}

func (d *Dispatcher) rewrapSecrets() error {
	primary := d.cfg.Sealer.ID()
	// Every pass calls this, and nearly always finds nothing to do: look in
	// a read transaction first, so that a pass writes (and syncs) nothing.
	var stale [][]byte
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHooks).ForEach(func(k, v []byte) error {
			var h Hook
			if json.Unmarshal(v, &h) == nil && seal.KeyID(h.SealedSecret) != primary {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	n := 0
	err = d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHooks)
		for _, k := range stale {
			// Read again in this transaction: a webhook deleted or
			// changed since the look above is not put back as it was.
			var h Hook
			v := b.Get(k)
			if v == nil || json.Unmarshal(v, &h) != nil || seal.KeyID(h.SealedSecret) == primary {
				continue
			}
			secret, err := d.cfg.Sealer.Open(h.SealedSecret, secretAAD(&h))
			if err != nil {
				continue
			}
			h.SealedSecret, err = d.cfg.Sealer.Seal(secret, secretAAD(&h))
			clear(secret)
			if err != nil {
				return err
			}
			if err := put(b, k, h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil && n > 0 {
		d.cfg.Log.Info("webhook secrets sealed again under the current master key", slog.Int("count", n), slog.String("masterKeyId", primary))
	}
	return err
}
