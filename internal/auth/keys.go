package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// keyPrefix marks certbind keys so that secret scanners and people can
// recognise one.
const keyPrefix = "cbk_"

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrUnauthenticated: no key, or a key that is not known.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrKeyInactive: a key that was issued but has expired or was revoked. It
// is also ErrUnauthenticated.
var ErrKeyInactive = fmt.Errorf("api key expired or revoked: %w", ErrUnauthenticated)

// InactiveMessage is what a client that sends an expired or revoked key
// is told. Only the holder of the whole secret can get this answer, so it
// reveals nothing to anyone else; it saves the holder from hunting for a
// typo when the key needs replacing.
const InactiveMessage = "the API key has expired or was revoked: ask an admin for a new one (`certbind api-key create`)"

// NewSecret returns a fresh API key secret and its id.
func NewSecret() (secret, id string) {
	var raw [32]byte
	rand.Read(raw[:])
	var idRaw [10]byte
	rand.Read(idRaw[:])
	return keyPrefix + strings.ToLower(b32.EncodeToString(raw[:])), "key_" + strings.ToLower(b32.EncodeToString(idRaw[:]))
}

// Hash is the stored form of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// KeyStore finds stored keys by hash; a hash it does not hold is
// ErrKeyNotFound.
type KeyStore interface {
	APIKeyByHash(hash string) (APIKey, error)
	PutAPIKey(APIKey) error
}

// Verifier says who holds a key. certmgr checks keys itself
// (Authenticator); other services ask certmgr (Remote).
type Verifier interface {
	Authenticate(secret string) (Principal, error)
}

// fixedKeys recognises the keys given in configuration rather than stored:
// the admin key and the service key.
type fixedKeys struct {
	admin, service       [32]byte
	hasAdmin, hasService bool
}

func newFixedKeys(adminKey, serviceKey string) fixedKeys {
	var f fixedKeys
	if adminKey != "" {
		f.admin, f.hasAdmin = sha256.Sum256([]byte(adminKey)), true
	}
	if serviceKey != "" {
		f.service, f.hasService = sha256.Sum256([]byte(serviceKey)), true
	}
	return f
}

// match compares in constant time, on hashes so lengths leak nothing.
func (f fixedKeys) match(secret string) (Principal, bool) {
	sum := sha256.Sum256([]byte(secret))
	if f.hasAdmin && subtle.ConstantTimeCompare(sum[:], f.admin[:]) == 1 {
		return Principal{KeyID: "admin", Role: RoleAdmin}, true
	}
	if f.hasService && subtle.ConstantTimeCompare(sum[:], f.service[:]) == 1 {
		return Principal{KeyID: "service", Role: RoleService}, true
	}
	return Principal{}, false
}

// Authenticator checks keys against the configured admin and service keys
// and the stored account keys.
type Authenticator struct {
	fixed fixedKeys
	keys  KeyStore
	// lc is keys when it can also list and revoke (the real store).
	lc  KeyLifecycle
	now func() time.Time

	streams  Streams
	usage    usage
	watchers watchers
}

// NewAuthenticator accepts adminKey as the admin key and serviceKey as the
// service key (none when empty), and the keys in ks.
func NewAuthenticator(adminKey, serviceKey string, ks KeyStore) *Authenticator {
	lc, _ := ks.(KeyLifecycle)
	return &Authenticator{fixed: newFixedKeys(adminKey, serviceKey), keys: ks, lc: lc, now: time.Now}
}

// SetClock replaces time.Now, for expiry. Call it before use.
func (a *Authenticator) SetClock(now func() time.Time) { a.now = now }

// OpenStreams is the registry of open streams by key, which revocations
// end.
func (a *Authenticator) OpenStreams() *Streams { return &a.streams }

// Authenticate returns the principal for a bearer secret.
func (a *Authenticator) Authenticate(secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrUnauthenticated
	}
	if p, ok := a.fixed.match(secret); ok {
		return p, nil
	}
	sum := sha256.Sum256([]byte(secret))
	// The lookup is by hash, so timing reveals nothing about the secret.
	k, err := a.keys.APIKeyByHash(hex.EncodeToString(sum[:]))
	if errors.Is(err, ErrKeyNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	now := a.now()
	if k.RevokedAt != nil || a.streams.Revoked(k.ID) || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return Principal{}, ErrKeyInactive
	}
	a.usage.note(k.ID, now)
	p := Principal{KeyID: k.ID, Role: Role(k.Role), Account: k.Account, Project: k.Project, EnvironmentTypes: k.EnvironmentTypes}
	if k.ExpiresAt != nil {
		p.ExpiresAt = *k.ExpiresAt
	}
	return p, nil
}

// KeySpec is what a new key may do and how long.
type KeySpec struct {
	Account string
	Role    Role
	// Project and EnvironmentTypes limit an edge key when not empty.
	Project          string
	EnvironmentTypes []string
	// Name is a label for people.
	Name string
	// ExpiresIn is how long the key is valid; 0 means no expiry.
	ExpiresIn time.Duration
}

// Issue creates and stores a key for account with role, limited to project
// and environmentTypes when they are not empty, and returns the secret
// (shown once) and the stored record.
func (a *Authenticator) Issue(account string, role Role, project string, environmentTypes []string, now time.Time) (string, APIKey, error) {
	return a.IssueKey(KeySpec{Account: account, Role: role, Project: project, EnvironmentTypes: environmentTypes}, now)
}

// IssueKey creates and stores a key as spec says, and returns the secret
// (shown once) and the stored record.
func (a *Authenticator) IssueKey(spec KeySpec, now time.Time) (string, APIKey, error) {
	secret, id := NewSecret()
	rec := APIKey{ID: id, Hash: Hash(secret), Role: string(spec.Role), Account: spec.Account,
		Project: spec.Project, EnvironmentTypes: spec.EnvironmentTypes, CreatedAt: now.UTC(), Name: spec.Name}
	if spec.ExpiresIn > 0 {
		exp := now.Add(spec.ExpiresIn).UTC()
		rec.ExpiresAt = &exp
	}
	if err := a.keys.PutAPIKey(rec); err != nil {
		return "", APIKey{}, fmt.Errorf("store api key: %w", err)
	}
	return secret, rec, nil
}
