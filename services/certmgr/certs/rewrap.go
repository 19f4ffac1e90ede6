package certs

import (
	"fmt"

	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Rewrap re-seals c's private key under the sealer's primary key, in place,
// bound to the same certificate and version, and reports whether it changed
// c. A key already sealed with the primary key is left as it is. The
// plaintext never leaves this call. A key that does not open gives an error
// wrapping ErrDamaged and leaves c as it was.
//
// The certificate's material, version and revision stay the same, so an
// edge that already holds the key has nothing new to load.
func (m *Manager) Rewrap(c *store.Certificate) (bool, error) {
	if len(c.SealedKey) == 0 || seal.KeyID(c.SealedKey) == m.sealer.ID() {
		return false, nil
	}
	aad := keyAAD(c.ID, c.Version)
	key, err := m.sealer.Open(c.SealedKey, aad)
	if err != nil {
		return false, fmt.Errorf("%w: the private key of %s (version %d) does not unseal (%w); rotate it in place with new material", ErrDamaged, c.ID, c.Version, err)
	}
	defer clear(key)
	sealed, err := m.sealer.Seal(key, aad)
	if err != nil {
		return false, err
	}
	c.SealedKey = sealed
	return true, nil
}
