package webhook

import (
	"encoding/json"
	"log/slog"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// rewrapSecrets seals again, under the master key's current primary, each
// webhook secret sealed under another key of the ring: after a master-key
// rotation, the retired key is gone at the next start, and a secret still
// sealed under it could not sign. Each pass and Close call it; a secret
// that opens under no key of the ring is left as it is (its deliveries
// fail saying so).
func (d *Dispatcher) rewrapSecrets() error {
	primary := d.cfg.Sealer.ID()
	var stale []Hook
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHooks).ForEach(func(_, v []byte) error {
			var h Hook
			if json.Unmarshal(v, &h) == nil && seal.KeyID(h.SealedSecret) != primary {
				stale = append(stale, h)
			}
			return nil
		})
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHooks)
		n := 0
		for _, h := range stale {
			secret, err := d.cfg.Sealer.Open(h.SealedSecret, secretAAD(&h))
			if err != nil {
				continue
			}
			h.SealedSecret, err = d.cfg.Sealer.Seal(secret, secretAAD(&h))
			clear(secret)
			if err != nil {
				return err
			}
			if err := put(b, accountKey(h.Account, h.ID), h); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			d.cfg.Log.Info("webhook secrets sealed again under the current master key", slog.Int("count", n), slog.String("masterKeyId", primary))
		}
		return nil
	})
}
