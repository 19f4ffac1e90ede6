package certs

import (
	"fmt"

	"github.com/certbind/certbind/services/certmgr/store"
)

// Damage says why a stored certificate cannot be used, or returns "" when
// it can: its record does not decode (a stand-in from the store), its chain
// does not decode, or its private key does not unseal under the master key.
// The unsealed key is dropped at once; it never leaves this function.
func (m *Manager) Damage(c *store.Certificate) string {
	if c.Damaged != "" {
		return c.Damaged
	}
	key, err := m.PrivateKey(c)
	clear(key)
	if err != nil {
		return err.Error()
	}
	return ""
}

// undecodableError is PrivateKey's answer for a stand-in of a record that
// does not decode.
func undecodableError(c *store.Certificate) error {
	return fmt.Errorf("%w: certificate %s: %s", ErrDamaged, c.ID, c.Damaged)
}
