package certs

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// parsed is certificate material that passed validation, ready to store.
type parsed struct {
	kind     string
	chainPEM []byte
	info     material.Info
	// keyDER is the unencrypted PKCS#8 private key of a client certificate,
	// nil for a CA. It is sealed before it is stored and never logged.
	keyDER []byte
}

// parseMaterial validates an upload of the given kind at time now. Create and
// Rotate both go through it, so a rotation is held to the same rules as the
// upload it replaces.
func parseMaterial(kind string, in material.Input, now time.Time) (*parsed, error) {
	if kind == store.KindCA {
		if len(in.KeyPEM) > 0 || len(in.PKCS12) > 0 {
			return nil, &InputError{Field: "key", Msg: "a CA upload takes no private key: drop --key/--p12, or drop --ca to upload a client certificate"}
		}
		ca, err := material.ParseCA(in.CertificatePEM, now)
		if err != nil {
			return nil, err
		}
		return &parsed{kind: store.KindCA, chainPEM: ca.PEM, info: ca.Info}, nil
	}
	cl, err := material.ParseClient(in, now)
	if err != nil {
		return nil, err
	}
	return &parsed{kind: store.KindClient, chainPEM: cl.ChainPEM, info: cl.Info, keyDER: cl.PrivateKeyDER}, nil
}

// apply puts validated material on c: the chain, the leaf's metadata and,
// for a client certificate, the private key sealed to c's id and version. c's
// ID and Version must be final, because the seal is bound to them: a key
// sealed for one version never opens as another.
func (m *Manager) apply(c *store.Certificate, p *parsed) error {
	c.Kind = p.kind
	c.ChainPEM = p.chainPEM
	c.Subject = p.info.Subject
	c.Issuer = p.info.Issuer
	c.SerialNumber = p.info.SerialNumber
	c.Fingerprint = p.info.FingerprintSHA256
	c.KeyAlgorithm = p.info.KeyAlgorithm
	c.DNSNames = p.info.DNSNames
	c.NotBefore = p.info.NotBefore.UTC()
	c.NotAfter = p.info.NotAfter.UTC()
	c.SealedKey = nil
	if p.kind != store.KindClient {
		return nil
	}
	sealed, err := m.sealer.Seal(p.keyDER, keyAAD(c.ID, c.Version))
	if err != nil {
		return fmt.Errorf("seal private key: %w", err)
	}
	c.SealedKey = sealed
	return nil
}

// chainDecodes reports whether a stored chain is still PEM that holds a
// certificate. It is cheap enough to run on every send: it decodes the PEM
// but parses no certificate, which is what an edge does with the chain.
func chainDecodes(chainPEM []byte) bool {
	found := false
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return found && len(bytes.TrimSpace(rest)) == 0
		}
		if b.Type != "CERTIFICATE" {
			return false
		}
		found = true
	}
}
