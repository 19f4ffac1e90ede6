package certs

import (
	"errors"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/certmgr/store"
)

// TestPrivateKeyReportsDamage: a record whose key does not unseal or whose
// chain does not decode fails with ErrDamaged, naming the certificate and
// never holding the key; the intact record still opens.
func TestPrivateKeyReportsDamage(t *testing.T) {
	m, _ := newManager(t, nil)
	c := upload(t, m, "damaged")
	if _, err := m.PrivateKey(c); err != nil {
		t.Fatalf("intact record: %v", err)
	}
	flipped := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 1
		return b
	}
	for _, tc := range []struct {
		name   string
		damage func(c *store.Certificate)
	}{
		{"sealed key byte flipped", func(c *store.Certificate) { c.SealedKey = flipped(c.SealedKey) }},
		{"sealed key missing", func(c *store.Certificate) { c.SealedKey = nil }},
		{"sealed key truncated", func(c *store.Certificate) { c.SealedKey = c.SealedKey[:10] }},
		{"chain not PEM", func(c *store.Certificate) { c.ChainPEM = []byte("garbage") }},
		{"chain cut short", func(c *store.Certificate) { c.ChainPEM = c.ChainPEM[:len(c.ChainPEM)-20] }},
		{"chain empty", func(c *store.Certificate) { c.ChainPEM = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := *c
			tc.damage(&d)
			key, err := m.PrivateKey(&d)
			if !errors.Is(err, ErrDamaged) || key != nil {
				t.Fatalf("got key %d bytes, error %v; want ErrDamaged", len(key), err)
			}
			if !strings.Contains(err.Error(), c.ID) || !strings.Contains(err.Error(), "rotate") {
				t.Fatalf("error %q does not name the certificate and the repair", err)
			}
		})
	}
}
