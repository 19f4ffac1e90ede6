package seal

import (
	"bytes"
	"fmt"
)

// The check value is a fixed plaintext sealed under its own associated data,
// which no other sealed value uses, so a sealed private key can never pass
// for it nor it for one.
var (
	checkPlaintext = []byte("certbind master key check v1")
	checkAAD       = []byte("certbind/seal/master-key-check")
)

// NewCheck returns a check value: something only this key opens. A store
// keeps it beside the data it seals, so that a start with another key can be
// refused before anything is sealed with the wrong one.
func (s *Sealer) NewCheck() ([]byte, error) {
	return s.Seal(checkPlaintext, checkAAD)
}

// VerifyCheck reports whether check, made by NewCheck, was made with this
// key. Any other value gives an error wrapping ErrOpen.
func (s *Sealer) VerifyCheck(check []byte) error {
	plain, err := s.Open(check, checkAAD)
	if err != nil {
		return err
	}
	if !bytes.Equal(plain, checkPlaintext) {
		return fmt.Errorf("%w (the check value holds something else)", ErrOpen)
	}
	return nil
}
