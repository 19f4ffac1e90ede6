// Package seal encrypts private keys at rest with AES-256-GCM under a
// key-encryption key that lives in a file outside the database, so a copy of
// the database alone reveals no private key.
//
// A Sealer holds a ring of keys: it seals with one of them, the primary, and
// opens a value with whichever key sealed it, which every value names by its
// key id. That is what lets a master key be rotated while the database still
// holds values sealed with the old one.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// KeySize is the length in bytes of a key-encryption key (AES-256).
const KeySize = 32

// The first byte of every sealed value is its format. It lets a later
// release change the algorithm or layout and still open what this one wrote.
const (
	// legacyVersion values are version || nonce || ciphertext+tag and do
	// not say which key sealed them; stores written before key rings hold
	// them, sealed with the store's first key.
	legacyVersion = 1
	// formatVersion values are version || key id || nonce || ciphertext+tag.
	formatVersion = 2
)

const (
	nonceSize      = 12 // the standard GCM nonce
	tagSize        = 16
	idSize         = 8
	legacyOverhead = 1 + nonceSize + tagSize
	overhead       = 1 + idSize + nonceSize + tagSize
)

// ErrOpen is returned by Open for every input it cannot decrypt: a wrong key,
// wrong associated data, or a truncated or altered value. GCM cannot tell
// these apart, and an attacker must not learn which it was either.
var ErrOpen = errors.New("seal: cannot decrypt sealed data: the key file may not match the database, or the data was altered")

// ringKey is one key of a ring.
type ringKey struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Sealer encrypts with its primary key and decrypts with any key of its
// ring. It is safe for concurrent use, also while keys are added and the
// primary changes.
type Sealer struct {
	mu      sync.RWMutex
	keys    []*ringKey // every key it opens with, the first one first
	primary *ringKey
	opened  atomic.Uint64
}

// New returns a Sealer whose ring is one key of exactly KeySize bytes. The
// key is not retained, so the caller may clear it afterwards.
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
	k := &ringKey{aead: aead}
	copy(k.id[:], keyID(key))
	return &Sealer{keys: []*ringKey{k}, primary: k}, nil
}

// keyID derives a key's id from the key: an HMAC under the key of a fixed
// label, so the id names the key without saying anything about it, and a
// key file needs no field beside the key. Two keys with the same id would
// need a collision of 64 bits of HMAC-SHA256.
func keyID(key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("certbind master key id v1"))
	return mac.Sum(nil)[:idSize]
}

// ID is the id of the primary key: 16 hex characters, safe to log and show.
func (s *Sealer) ID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return hex.EncodeToString(s.primary.id[:])
}

// IDs are the ids of every key in the ring, the first one first.
func (s *Sealer) IDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(s.keys))
	for i, k := range s.keys {
		ids[i] = hex.EncodeToString(k.id[:])
	}
	return ids
}

// Add adds the keys of other's ring to s's, for opening; s keeps its
// primary. Keys s already holds are skipped.
func (s *Sealer) Add(other *Sealer) {
	other.mu.RLock()
	add := append([]*ringKey(nil), other.keys...)
	other.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range add {
		if s.find(k.id) == nil {
			s.keys = append(s.keys, k)
		}
	}
}

// SetPrimary makes the key with the given id the one Seal uses.
func (s *Sealer) SetPrimary(id string) error {
	var want [idSize]byte
	if b, err := hex.DecodeString(id); err != nil || len(b) != idSize {
		return fmt.Errorf("seal: %q is not a key id (%d hex characters)", id, 2*idSize)
	} else {
		copy(want[:], b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.find(want)
	if k == nil {
		return fmt.Errorf("seal: the ring holds no key %s", id)
	}
	s.primary = k
	return nil
}

func (s *Sealer) find(id [idSize]byte) *ringKey {
	for _, k := range s.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

// KeyID returns the id of the key that sealed a value, or "" for a value
// that does not name one (written before key rings, or too short to be a
// sealed value).
func KeyID(sealed []byte) string {
	if len(sealed) < overhead || sealed[0] != formatVersion {
		return ""
	}
	return hex.EncodeToString(sealed[1 : 1+idSize])
}

// Seal encrypts plaintext with the primary key and returns version || key id
// || nonce || ciphertext+tag.
//
// aad is authenticated but not stored: it binds the result to its owner (for
// example a certificate id and version), so a sealed key copied onto another
// record fails to open. The nonce is random, which is safe for far more
// values than one key-encryption key will ever seal (GCM's limit for random
// 96-bit nonces is about 2^32 messages).
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	s.mu.RLock()
	k := s.primary
	s.mu.RUnlock()
	out := make([]byte, 1+idSize+nonceSize, overhead+len(plaintext))
	out[0] = formatVersion
	copy(out[1:], k.id[:])
	nonce := out[1+idSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: reading random nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, additionalData(formatVersion, k.id[:], aad)), nil
}

// Opened returns how many values Open was asked to open, successfully or
// not: each is an unseal of a key, which a stream should do once per
// change whatever its number of subscribers.
func (s *Sealer) Opened() uint64 { return s.opened.Load() }

// Open decrypts a value produced by Seal with the same aad, with the key of
// the ring that sealed it. Any failure is ErrOpen (possibly wrapped), never a
// partial plaintext.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	s.opened.Add(1)
	if len(sealed) == 0 {
		return nil, ErrOpen
	}
	switch sealed[0] {
	case formatVersion:
		if len(sealed) < overhead {
			return nil, ErrOpen
		}
		var id [idSize]byte
		copy(id[:], sealed[1:])
		s.mu.RLock()
		k := s.find(id)
		s.mu.RUnlock()
		if k == nil {
			return nil, fmt.Errorf("%w (it was sealed with master key %x, which the key file(s) do not hold)", ErrOpen, id)
		}
		nonce, ciphertext := sealed[1+idSize:1+idSize+nonceSize], sealed[1+idSize+nonceSize:]
		plaintext, err := k.aead.Open(nil, nonce, ciphertext, additionalData(formatVersion, id[:], aad))
		if err != nil {
			return nil, ErrOpen
		}
		return plaintext, nil
	case legacyVersion:
		if len(sealed) < legacyOverhead {
			return nil, ErrOpen
		}
		// A legacy value names no key. It was sealed with a store's first
		// key, which a ring mid-rotation holds beside the next one, so
		// each key is tried; GCM makes a wrong key fail, never misdecrypt.
		s.mu.RLock()
		keys := s.keys
		s.mu.RUnlock()
		nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
		for _, k := range keys {
			if plaintext, err := k.aead.Open(nil, nonce, ciphertext, additionalData(legacyVersion, nil, aad)); err == nil {
				return plaintext, nil
			}
		}
		return nil, ErrOpen
	default:
		return nil, fmt.Errorf("%w (unknown format version %d)", ErrOpen, sealed[0])
	}
}

// additionalData prefixes the caller's aad with the format version and the
// key id, so both are authenticated too and a value can never be
// reinterpreted under another format or key. The prefix has a fixed length
// per version, so no two distinct (version, id, aad) triples give the same
// bytes.
func additionalData(version byte, id, aad []byte) []byte {
	out := make([]byte, 0, 1+len(id)+len(aad))
	out = append(out, version)
	out = append(out, id...)
	return append(out, aad...)
}

// Remove drops the key with the given id from the ring, so that nothing it
// sealed opens any more: a master-key rotation retires the key it moved
// away from once no stored value needs it. The primary key cannot be
// removed. Removing a key the ring does not hold is not an error.
func (s *Sealer) Remove(id string) error {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != idSize {
		return fmt.Errorf("seal: %q is not a key id (%d hex characters)", id, 2*idSize)
	}
	var want [idSize]byte
	copy(want[:], b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.primary.id == want {
		return fmt.Errorf("seal: key %s seals new values and cannot be removed from the ring", id)
	}
	keys := make([]*ringKey, 0, len(s.keys))
	for _, k := range s.keys {
		if k.id != want {
			keys = append(keys, k)
		}
	}
	s.keys = keys
	return nil
}
