package auth

import "time"

// APIKey is an issued API key as a KeyStore keeps it: only the SHA-256 of
// the secret is kept. certmgr's store holds these records.
type APIKey struct {
	ID      string `json:"id"`
	Hash    string `json:"hash"`
	Role    string `json:"role"`
	Account string `json:"account"`
	// Project and EnvironmentTypes limit an edge key; empty means no limit.
	Project          string    `json:"project,omitempty"`
	EnvironmentTypes []string  `json:"environmentTypes,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	// Name is a label for people; it need not be unique.
	Name string `json:"name,omitempty"`
	// ExpiresAt is nil for a key that does not expire.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// LastUsedAt is when the key was last accepted, as last recorded
	// (TouchAPIKeys batches it); nil when never.
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// RevokedAt is set once the key is revoked; a revoked key is kept so
	// that listings and other services can still tell it apart.
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}
