package webhook

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// secretBytes is the entropy of a webhook secret: 256 bits.
const secretBytes = 32

// secretPrefix marks a webhook secret, so that one found in a paste or a
// repository is recognised.
const secretPrefix = "whsec_"

// secretAAD binds a sealed secret to its webhook.
func secretAAD(h *Hook) []byte { return []byte("certbind webhook secret " + h.Account + "/" + h.ID) }

// Secret returns the key that signs deliveries for a secret as shown:
// the secret itself, prefix included, as bytes.
func Secret(shown string) []byte { return []byte(shown) }

// CreateRequest is a webhook to create.
type CreateRequest struct {
	Account, Name, URL string
	Events             []string
}

// Create checks req, stores the webhook with a new secret sealed under the
// master key, and returns the webhook and the secret, which is never
// shown again.
func (d *Dispatcher) Create(req CreateRequest) (*Hook, string, error) {
	if err := checkName(req.Name); err != nil {
		return nil, "", err
	}
	u, err := ParseURL(req.URL, d.cfg.URLs)
	if err != nil {
		return nil, "", &InvalidError{Msg: err.Error()}
	}
	if ip, isIP := parseIP(u.Hostname()); isIP {
		// A literal address is checked now, so the mistake is told at
		// once; names are checked on the address each attempt dials.
		if err := d.cfg.Policy.Check(bgCtx(), addrPort(ip, u)); err != nil {
			if r, ok := asRefused(err); ok {
				return nil, "", &InvalidError{Msg: "webhook url " + quoteShort(req.URL) + " is not accepted: " + refusedError(r).Error()}
			}
			return nil, "", err
		}
	}
	events, err := checkEvents(req.Events)
	if err != nil {
		return nil, "", err
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	h := &Hook{ID: newID("wh_"), Account: req.Account, Name: req.Name, URL: u.String(), Events: events, CreatedAt: d.cfg.Now().UTC()}
	h.SealedSecret, err = d.cfg.Sealer.Seal(Secret(secret), secretAAD(h))
	if err != nil {
		return nil, "", err
	}
	err = d.db.Update(func(tx *bolt.Tx) error {
		hooks, err := hooksOf(tx, req.Account)
		if err != nil {
			return err
		}
		if len(hooks) >= d.cfg.MaxHooks {
			return ErrTooMany
		}
		for _, o := range hooks {
			if strings.EqualFold(o.Name, h.Name) {
				return ErrNameTaken
			}
		}
		return put(tx.Bucket(bucketHooks), accountKey(h.Account, h.ID), h)
	})
	if err != nil {
		return nil, "", err
	}
	return h, secret, nil
}

// List returns an account's webhooks by name.
func (d *Dispatcher) List(account string) ([]*Hook, error) {
	var out []*Hook
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = hooksOf(tx, account)
		return err
	})
	slices.SortFunc(out, func(a, b *Hook) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// Delete deletes an account's webhook, named by id or name, with its
// deliveries not yet sent.
func (d *Dispatcher) Delete(account, ref string) (*Hook, error) {
	var h *Hook
	err := d.db.Update(func(tx *bolt.Tx) error {
		var err error
		if h, err = findHook(tx, account, ref); err != nil {
			return err
		}
		due := tx.Bucket(bucketDue)
		dels := tx.Bucket(bucketDeliveries)
		var drop [][]byte
		c := due.Cursor()
		for k, acct := c.First(); k != nil; k, acct = c.Next() {
			if string(acct) != account {
				continue
			}
			var del Delivery
			if ok, _ := get(dels, append(accountPrefix(account), k...), &del); ok && del.WebhookID == h.ID {
				drop = append(drop, bytes.Clone(k))
			}
		}
		for _, k := range drop {
			if err := due.Delete(k); err != nil {
				return err
			}
			if err := dels.Delete(append(accountPrefix(account), k...)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketHooks).Delete(accountKey(account, h.ID))
	})
	return h, err
}

// Deliveries returns up to limit deliveries of an account's webhook,
// newest first.
func (d *Dispatcher) Deliveries(account, ref string, limit int) ([]Delivery, error) {
	var out []Delivery
	err := d.db.View(func(tx *bolt.Tx) error {
		h, err := findHook(tx, account, ref)
		if err != nil {
			return err
		}
		prefix := accountPrefix(account)
		c := tx.Bucket(bucketDeliveries).Cursor()
		// Seek past the account's last key and walk back.
		var k, v []byte
		if k, _ = c.Seek(append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			var del Delivery
			if json.Unmarshal(v, &del) != nil || del.WebhookID != h.ID {
				continue
			}
			out = append(out, del)
		}
		return nil
	})
	return out, err
}

// checkName accepts 1 to 64 letters, digits, '_' and '-', starting with a
// letter.
func checkName(name string) error {
	bad := func(why string) error {
		return &InvalidError{Msg: fmt.Sprintf("webhook name %s %s (use 1 to 64 letters, digits, _ or -, starting with a letter; e.g. \"expiryAlerts\")", quoteShort(name), why)}
	}
	if name == "" {
		return bad("is empty")
	}
	if len(name) > 64 {
		return bad("is too long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return bad("does not start with a letter")
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return bad("holds a character that is not allowed")
		}
	}
	return nil
}

// checkEvents checks event types and drops repeats; empty means all.
func checkEvents(in []string) ([]string, error) {
	var out []string
	for _, e := range in {
		if !slices.Contains(Events, e) {
			return nil, &InvalidError{Msg: fmt.Sprintf("event %s is not an event type (use one of %s)", quoteShort(e), strings.Join(Events, ", "))}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}
