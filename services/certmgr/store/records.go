package store

import (
	"slices"
	"time"

	"github.com/certbind/certbind/internal/auth"
)

// Certificate kinds.
const (
	KindClient = "client"
	KindCA     = "ca"
)

// Certificate states.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
	// StateDeleting marks a certificate whose delete is checking for
	// references. Deploys refuse it; PrevState holds the state to go back
	// to if the delete is refused.
	StateDeleting = "deleting"
)

// Certificate is the stored form of an uploaded certificate.
//
// RemovingTypes marks a removal of environment types that is checking for
// references: deploys of those types are refused meanwhile, and the types
// leave EnvironmentTypes only if the check finds no deployment of them.
type Certificate struct {
	ID               string    `json:"id"`
	Account          string    `json:"account"`
	Project          string    `json:"project"`
	Name             string    `json:"name"`
	Kind             string    `json:"kind"`
	EnvironmentTypes []string  `json:"environmentTypes"`
	State            string    `json:"state"`
	PrevState        string    `json:"prevState,omitempty"`
	RemovingTypes    []string  `json:"removingEnvironmentTypes,omitempty"`
	Version          int32     `json:"version"`
	ChainPEM         []byte    `json:"chainPem"`
	SealedKey        []byte    `json:"sealedKey,omitempty"`
	Subject          string    `json:"subject"`
	Issuer           string    `json:"issuer"`
	SerialNumber     string    `json:"serialNumber"`
	Fingerprint      string    `json:"fingerprintSha256"`
	KeyAlgorithm     string    `json:"keyAlgorithm,omitempty"`
	DNSNames         []string  `json:"dnsNames,omitempty"`
	NotBefore        time.Time `json:"notBefore"`
	NotAfter         time.Time `json:"notAfter"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	// Revision is the revision of the last write to this certificate.
	Revision uint64 `json:"revision"`
	// Damaged is never stored: it is set on a stand-in read back for a
	// record that does not decode, which carries only the id, account,
	// project and name (from the name index) and says why here.
	Damaged string `json:"-"`
}

// Change types, one per kind of write.
const (
	ChangeCreated  = "created"
	ChangeUpdated  = "updated"
	ChangeDisabled = "disabled"
	ChangeEnabled  = "enabled"
	ChangeRotated  = "rotated"
	ChangeDeleted  = "deleted"
)

// Change is one changelog entry. It carries the whole record after the write
// (nil for a delete) and the one before it, so a subscriber scoped to an
// environment type can tell a certificate that left its scope from one that
// was never in it.
type Change struct {
	Revision      uint64       `json:"revision"`
	Type          string       `json:"type"`
	CertificateID string       `json:"certificateId"`
	Account       string       `json:"account"`
	Project       string       `json:"project"`
	Before        *Certificate `json:"before,omitempty"`
	After         *Certificate `json:"after,omitempty"`
	At            time.Time    `json:"at"`
}

// Rev returns the change's revision.
func (c Change) Rev() uint64 { return c.Revision }

// APIKey is a stored API key: only the SHA-256 of the secret is kept. It
// is auth's record, so that the store is auth's KeyStore as it is.
type APIKey = auth.APIKey

// clone returns a copy of c that shares no memory with it.
func (c *Certificate) clone() *Certificate {
	if c == nil {
		return nil
	}
	out := *c
	out.EnvironmentTypes = slices.Clone(c.EnvironmentTypes)
	out.RemovingTypes = slices.Clone(c.RemovingTypes)
	out.ChainPEM = slices.Clone(c.ChainPEM)
	out.SealedKey = slices.Clone(c.SealedKey)
	out.DNSNames = slices.Clone(c.DNSNames)
	return &out
}

// clone returns a copy of c whose records share no memory with c's.
func (c Change) clone() Change {
	c.Before = c.Before.clone()
	c.After = c.After.clone()
	return c
}
