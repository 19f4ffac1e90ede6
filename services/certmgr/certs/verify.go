package certs

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/certbind/certbind/services/certmgr/store"
)

// Finding severities.
const (
	// SeverityError: something is broken; a request or a deploy that needs
	// it fails.
	SeverityError = "error"
	// SeverityWarning: unfinished work certmgr finishes by itself (at its
	// next start), or something that needs a look.
	SeverityWarning = "warning"
)

// Finding is one problem Verify found.
type Finding struct {
	Severity, Check                       string
	Account, Project, CertificateID, Name string
	Message                               string
}

// Report is what Verify found, with the counts of what it read.
type Report struct {
	Findings                       []Finding
	Certificates, APIKeys, Changes int64
}

// Verify reads every record of the store and checks it: that it decodes,
// that its chain decodes and its key unseals under the master key and
// belongs to the certificate, that the fingerprint is the chain's, that the
// name index and the records agree, and whether a delete or a removal of
// environment types was left unfinished. It changes nothing and holds no
// transaction open while it unseals keys. ctx ends it early.
func (m *Manager) Verify(ctx context.Context) (*Report, error) {
	scan, ok := m.store.(Scanner)
	if !ok {
		return nil, errors.New("verify: this store cannot walk its records (it does not implement certs.Scanner)")
	}
	r := &Report{}
	add := func(sev, check string, c *store.Certificate, format string, args ...any) {
		r.Findings = append(r.Findings, Finding{Severity: sev, Check: check, Account: c.Account, Project: c.Project,
			CertificateID: c.ID, Name: c.Name, Message: fmt.Sprintf(format, args...)})
	}
	err := scan.ScanCertificates(func(rec store.CertificateRecord) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Certificates++
		c := rec.Certificate
		if c.Damaged != "" {
			add(SeverityError, "undecodable_record", c, "certificate %s (%q): %s; edges receive it without material and routes that use it answer 502; redeploy them with another certificate, then delete it and upload it again (or restore the store from a backup)",
				c.ID, c.Name, c.Damaged)
			return nil
		}
		m.verifyCertificate(rec, add)
		return nil
	})
	if err != nil {
		return nil, err
	}
	dangling, err := scan.ScanNames()
	if err != nil {
		return nil, err
	}
	for _, d := range dangling {
		c := &store.Certificate{Account: d.Account, Project: d.Project, ID: d.ID, Name: d.Name}
		add(SeverityError, "name_index_dangling", c, "the name %q points at certificate %s, which has no record; the name cannot be used again until the index is repaired (restore the store from a backup)", d.Name, d.ID)
	}
	var undecodableKeys int64
	if r.APIKeys, undecodableKeys, err = scan.ScanAPIKeys(); err != nil {
		return nil, err
	}
	if undecodableKeys > 0 {
		add(SeverityError, "undecodable_api_key", &store.Certificate{}, "%d API key record(s) do not decode; those keys are refused: create new keys with `certbind api-key create`", undecodableKeys)
	}
	var revs []uint64
	if r.Changes, revs, err = scan.ScanChanges(); err != nil {
		return nil, err
	}
	if len(revs) > 0 {
		add(SeverityError, "undecodable_change", &store.Certificate{}, "%d changelog entries do not decode (first at revision %d); an edge that resumes from before them fails until it resyncs from a fresh snapshot (restart it)", len(revs), revs[0])
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return strings.Compare(a.Account+"\x00"+a.Project+"\x00"+a.CertificateID, b.Account+"\x00"+b.Project+"\x00"+b.CertificateID)
	})
	return r, nil
}

// verifyCertificate checks one decoded record.
func (m *Manager) verifyCertificate(rec store.CertificateRecord, add func(sev, check string, c *store.Certificate, format string, args ...any)) {
	c := rec.Certificate
	if c.ID != rec.ID || c.Account != rec.Account || c.Project != rec.Project {
		add(SeverityError, "record_key_mismatch", c, "the record stored under %s/%s/%s says it is %s/%s/%s; restore the store from a backup", rec.Account, rec.Project, rec.ID, c.Account, c.Project, c.ID)
	}
	if rec.IndexedID != c.ID {
		add(SeverityError, "name_index_missing", c, "the name index does not point %q at this certificate (it holds %q); it cannot be found by name; restore the store from a backup", c.Name, rec.IndexedID)
	}
	switch {
	case c.State == store.StateDeleting:
		add(SeverityWarning, "delete_in_progress", c, "a delete of %q is checking for references; if no delete is running, certmgr finishes or undoes it at its next start", c.Name)
	case len(c.RemovingTypes) > 0:
		add(SeverityWarning, "environment_type_removal_in_progress", c, "a removal of the environment types %s from %q is checking for references; if none is running, certmgr finishes or undoes it at its next start", strings.Join(c.RemovingTypes, ", "), c.Name)
	}
	key, err := m.PrivateKey(c)
	defer clear(key)
	if err != nil {
		check := "key_does_not_unseal"
		if !chainDecodes(c.ChainPEM) {
			check = "chain_does_not_decode"
		}
		add(SeverityError, check, c, "%v", err)
		return
	}
	block, _ := pem.Decode(c.ChainPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		add(SeverityError, "chain_does_not_decode", c, "the first certificate of %s's chain does not parse (%v); rotate it in place with new material", c.ID, err)
		return
	}
	if sum := sha256.Sum256(leaf.Raw); hex.EncodeToString(sum[:]) != c.Fingerprint {
		add(SeverityError, "fingerprint_mismatch", c, "the stored fingerprint of %s is not its certificate's; rotate it in place with new material", c.ID)
	}
	if c.Kind != store.KindClient {
		return
	}
	if err := keyMatches(leaf, key); err != nil {
		add(SeverityError, "key_does_not_match", c, "the private key of %s (version %d) %v; rotate it in place with new material", c.ID, c.Version, err)
	}
}

// keyMatches says whether the PKCS#8 key belongs to the leaf certificate.
func keyMatches(leaf *x509.Certificate, der []byte) error {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return fmt.Errorf("does not parse (%w)", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return errors.New("cannot sign")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return errors.New("does not belong to its certificate")
	}
	return nil
}
