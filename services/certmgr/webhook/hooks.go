package webhook

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
	err = d.db.update(false, func(tx kvTx) error {
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
		return putJSON(tx, bucketHooks, accountKey(h.Account, h.ID), h)
	})
	if err != nil {
		return nil, "", err
	}
	return h, secret, nil
}

// List returns an account's webhooks by name.
func (d *Dispatcher) List(account string) ([]*Hook, error) {
	var out []*Hook
	err := d.db.view(func(tx kvTx) error {
		var err error
		out, err = hooksOf(tx, account)
		return err
	})
	slices.SortFunc(out, func(a, b *Hook) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// Delete deletes an account's webhook, named by id or name, with its
// deliveries not yet sent. On etcd a webhook with more of them than one
// transaction holds loses them over several, the webhook itself last.
func (d *Dispatcher) Delete(account, ref string) (*Hook, error) {
	var h *Hook
	for done := false; !done; {
		err := d.db.update(false, func(tx kvTx) error {
			done = false
			found, err := findHook(tx, account, ref)
			if err != nil {
				return err
			}
			h = found
			var drop [][]byte
			err = tx.scan(bucketDue, nil, false, func(k, acct []byte) (bool, error) {
				if string(acct) != account {
					return true, nil
				}
				var del Delivery
				if ok, _ := getJSON(tx, bucketDeliveries, append(accountPrefix(account), k...), &del); ok && del.WebhookID == found.ID {
					drop = append(drop, bytes.Clone(k))
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, k := range drop {
				if tx.full() {
					return nil
				}
				if err := leaveDue(tx, account, binary.BigEndian.Uint64(k)); err != nil {
					return err
				}
				if err := tx.del(bucketDeliveries, append(accountPrefix(account), k...)); err != nil {
					return err
				}
			}
			done = true
			return tx.del(bucketHooks, accountKey(account, found.ID))
		})
		if err != nil {
			return nil, err
		}
		if h != nil {
			// Later transactions name it by id: another webhook may take
			// its name once it is gone.
			ref = h.ID
		}
	}
	return h, nil
}

// Deliveries returns up to limit deliveries of an account's webhook,
// newest first.
func (d *Dispatcher) Deliveries(account, ref string, limit int) ([]Delivery, error) {
	var out []Delivery
	err := d.db.view(func(tx kvTx) error {
		out = out[:0]
		h, err := findHook(tx, account, ref)
		if err != nil {
			return err
		}
		return tx.scan(bucketDeliveries, accountPrefix(account), true, func(_, v []byte) (bool, error) {
			if len(out) >= limit {
				return false, nil
			}
			var del Delivery
			if json.Unmarshal(v, &del) == nil && del.WebhookID == h.ID {
				out = append(out, del)
			}
			return true, nil
		})
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
