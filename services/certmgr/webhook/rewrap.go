package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// SealSecretsAgain seals again, under the master key's current primary,
// each webhook secret sealed under another key of the ring. A master-key
// rotation calls it before the store switches to the new key: the retired
// key is not in the ring at the next start, and a secret still sealed
// under it could not sign. On etcd the rotation's walk calls it before
// the rotation ends, and every replica as it follows the end, before the
// old key leaves its ring; on the webhook file each pass and Close call
// it too. A secret that
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
	err := d.db.view(func(tx kvTx) error {
		return tx.scan(bucketHooks, nil, false, func(k, v []byte) (bool, error) {
			var h Hook
			if json.Unmarshal(v, &h) == nil && seal.KeyID(h.SealedSecret) != primary {
				stale = append(stale, bytes.Clone(k))
			}
			return true, nil
		})
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	total := 0
	for len(stale) > 0 {
		n, done := 0, 0
		err = d.db.update(false, func(tx kvTx) error {
			n, done = 0, 0
			for _, k := range stale {
				if tx.full() {
					break
				}
				done++
				// Read again in this transaction: a webhook deleted or
				// changed since the look above is not put back as it was.
				var h Hook
				v, err := tx.get(bucketHooks, k)
				if err != nil {
					return err
				}
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
				if err := putJSON(tx, bucketHooks, k, h); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		total += n
		stale = stale[done:]
	}
	if total > 0 {
		d.cfg.Log.Info("webhook secrets sealed again under the current master key", slog.Int("count", total), slog.String("masterKeyId", primary))
	}
	return nil
}
