// Package seal encrypts private keys at rest with AES-256-GCM under a
// key-encryption key that lives in a file outside the database, so a copy of
// the database alone reveals no private key.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of a key-encryption key (AES-256).
const KeySize = 32

// formatVersion is the first byte of every sealed value. It lets a later
// release change the algorithm or layout and still open what this one wrote.
const formatVersion = 1

const (
	nonceSize = 12 // the standard GCM nonce
	tagSize   = 16
	overhead  = 1 + nonceSize + tagSize
)

// ErrOpen is returned by Open for every input it cannot decrypt: a wrong key,
// wrong associated data, or a truncated or altered value. GCM cannot tell
// these apart, and an attacker must not learn which it was either.
var ErrOpen = errors.New("seal: cannot decrypt sealed data: the key file may not match the database, or the data was altered")

// Sealer encrypts and decrypts with one key-encryption key. It is safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a key of exactly KeySize bytes. The key is not
// retained, so the caller may clear it afterwards.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key must be %d bytes (AES-256), got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext and returns version || nonce || ciphertext+tag.
//
// aad is authenticated but not stored: it binds the result to its owner (for
// example a certificate id and version), so a sealed key copied onto another
// record fails to open. The nonce is random, which is safe for far more
// values than one key-encryption key will ever seal (GCM's limit for random
// 96-bit nonces is about 2^32 messages).
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = formatVersion
	nonce := out[1 : 1+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: reading random nonce: %w", err)
	}
	return s.aead.Seal(out, nonce, plaintext, additionalData(aad)), nil
}

// Open decrypts a value produced by Seal with the same aad. Any failure is
// ErrOpen (possibly wrapped), never a partial plaintext.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < overhead {
		return nil, ErrOpen
	}
	if sealed[0] != formatVersion {
		return nil, fmt.Errorf("%w (unknown format version %d)", ErrOpen, sealed[0])
	}
	nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := s.aead.Open(nil, nonce, ciphertext, additionalData(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}

// additionalData prefixes the caller's aad with the format version, so the
// version byte is authenticated too and a value can never be reinterpreted
// under another format. The prefix has a fixed length, so no two distinct
// (version, aad) pairs give the same bytes.
func additionalData(aad []byte) []byte {
	return append([]byte{formatVersion}, aad...)
}
