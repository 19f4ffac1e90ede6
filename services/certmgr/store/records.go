package store

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
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

// Change is the result of one write: the whole record after it (nil for a
// delete) and the one before it (nil for a create). It stays in memory;
// the changelog keeps its Entry.
type Change struct {
	Revision      uint64
	Type          string
	CertificateID string
	Account       string
	Project       string
	Before        *Certificate
	After         *Certificate
	At            time.Time
}

// Entry is one changelog entry: what a stream's subscriber needs to decide
// whether a change concerns it and to fetch the certificate as it is now.
// It holds no certificate material, so a deleted certificate's sealed key
// is not kept in the changelog for as long as the entry is.
type Entry struct {
	Revision      uint64 `json:"revision"`
	Type          string `json:"type"`
	CertificateID string `json:"certificateId"`
	Account       string `json:"account"`
	Project       string `json:"project"`
	// Before and After are where the certificate was before the change
	// and is after it, nil where it did not or no longer exists: a
	// subscriber scoped to an environment type tells by them a certificate
	// that left its scope from one that was never in it.
	Before *changefeed.Place `json:"beforePlace,omitempty"`
	After  *changefeed.Place `json:"afterPlace,omitempty"`
	// Version is the certificate's version after the change (before it,
	// for a delete).
	Version int32     `json:"version"`
	At      time.Time `json:"at"`
}

// Rev returns the entry's revision.
func (e Entry) Rev() uint64 { return e.Revision }

// Entry returns the changelog entry of c.
func (c Change) Entry() Entry {
	e := Entry{Revision: c.Revision, Type: c.Type, CertificateID: c.CertificateID, Account: c.Account, Project: c.Project,
		Before: c.Before.place(), After: c.After.place(), At: c.At}
	switch {
	case c.After != nil:
		e.Version = c.After.Version
	case c.Before != nil:
		e.Version = c.Before.Version
	}
	return e
}

// place is where c is, for a stream's scope; nil for nil.
func (c *Certificate) place() *changefeed.Place {
	if c == nil {
		return nil
	}
	return &changefeed.Place{Account: c.Account, Project: c.Project, EnvironmentTypes: slices.Clone(c.EnvironmentTypes)}
}

// legacyEntry is a changelog entry as certmgr wrote them before Entry:
// whole records, sealed keys included. Data dirs still hold them until the
// retention drops them; they are read as Entries, and a master-key
// rotation re-wraps the keys they hold.
type legacyEntry struct {
	Revision      uint64       `json:"revision"`
	Type          string       `json:"type"`
	CertificateID string       `json:"certificateId"`
	Account       string       `json:"account"`
	Project       string       `json:"project"`
	Before        *Certificate `json:"before,omitempty"`
	After         *Certificate `json:"after,omitempty"`
	At            time.Time    `json:"at"`
}

// decodeEntry reads a changelog entry of either format.
func decodeEntry(v []byte) (Entry, error) {
	var e struct {
		Entry
		LegacyBefore *Certificate `json:"before"`
		LegacyAfter  *Certificate `json:"after"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, err
	}
	if e.LegacyBefore != nil || e.LegacyAfter != nil {
		return Change{Revision: e.Revision, Type: e.Type, CertificateID: e.CertificateID, Account: e.Account, Project: e.Project,
			Before: e.LegacyBefore, After: e.LegacyAfter, At: e.At}.Entry(), nil
	}
	return e.Entry, nil
}

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
