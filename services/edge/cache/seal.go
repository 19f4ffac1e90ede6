package cache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// The edge seals its cache itself rather than with certmgr's seal package:
// no service imports another (the boundary tests hold that), and the edge
// needs only this much of it. The key file has the same format as
// certmgr's master key: 64 hex characters.

const (
	keySize   = 32 // AES-256
	idSize    = 8
	nonceSize = 12 // the standard GCM nonce
	tagSize   = 16
	overhead  = idSize + nonceSize + tagSize
)

// errOpen is every failure to open a sealed value: GCM cannot tell a wrong
// key from altered data, and the message should not pretend to.
var errOpen = errors.New("cannot decrypt")

// sealer seals with one AES-256-GCM key, named by an id derived from it.
type sealer struct {
	aead cipher.AEAD
	id   [idSize]byte
}

// newSealer returns a sealer of key, which it does not keep.
func newSealer(key []byte) (*sealer, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("the cache key must be %d bytes, got %d", keySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &sealer{aead: aead}
	// An HMAC of a fixed label names the key without saying anything
	// about it; it lets a cache sealed with another key be told apart from
	// a damaged one.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("certbind edge cache key id v1"))
	copy(s.id[:], mac.Sum(nil))
	return s, nil
}

// ID is the key's id in hex: safe to log.
func (s *sealer) ID() string { return hex.EncodeToString(s.id[:]) }

// Seal returns id || nonce || ciphertext+tag, with aad and the id
// authenticated. The nonce is random: a cache is written at most once a
// second, far below GCM's limit for random nonces under one key.
func (s *sealer) Seal(plain, aad []byte) ([]byte, error) {
	out := make([]byte, idSize+nonceSize, overhead+len(plain))
	copy(out, s.id[:])
	if _, err := rand.Read(out[idSize:]); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	return s.aead.Seal(out, out[idSize:], plain, s.additional(aad)), nil
}

// Open reverses Seal; every failure is errOpen.
func (s *sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < overhead || !hmac.Equal(sealed[:idSize], s.id[:]) {
		return nil, errOpen
	}
	plain, err := s.aead.Open(nil, sealed[idSize:idSize+nonceSize], sealed[idSize+nonceSize:], s.additional(aad))
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

// sealedKeyID is the id of the key a sealed value names, or "" when it is
// too short to name one.
func sealedKeyID(sealed []byte) string {
	if len(sealed) < overhead {
		return ""
	}
	return hex.EncodeToString(sealed[:idSize])
}

func (s *sealer) additional(aad []byte) []byte {
	return append(append(make([]byte, 0, idSize+len(aad)), s.id[:]...), aad...)
}
