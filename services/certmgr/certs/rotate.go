package certs

import (
	"context"
	"fmt"

	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Rotate replaces a certificate's material in place, as its next version.
// The id, name, kind, state and environment types stay, so deployments that
// refer to the certificate keep doing so and edges switch to the new
// material without a redeploy. A disabled certificate can be rotated and
// stays disabled.
//
// The new material is validated exactly like an upload of the certificate's
// kind: a client certificate takes a new certificate and key, a CA a new CA
// bundle without a key. Validation is complete before anything is written,
// so a refused rotation changes nothing. A certificate being deleted is
// refused with ErrDeleting.
func (m *Manager) Rotate(ctx context.Context, actor, account, project, id string, in material.Input) (*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	cur, err := m.store.GetCertificate(account, project, id)
	if err != nil {
		return nil, err
	}
	if cur.Kind == store.KindCA && (len(in.KeyPEM) > 0 || len(in.PKCS12) > 0) {
		return nil, &InputError{Field: "key", Msg: fmt.Sprintf("certificate %q holds CA certificates, which take no private key: rotate it with the new CA bundle alone (--ca --cert ca.pem)", cur.Name)}
	}
	now := m.now().UTC()
	mat, err := parseMaterial(cur.Kind, in, now)
	if err != nil {
		// The kind never changes, so say which one the material must be.
		return nil, fmt.Errorf("cannot rotate %s %q: %w", kindLabel(cur.Kind), cur.Name, err)
	}
	c, ch, err := m.audited(ctx, "certificate.rotate", actor).UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if c.State == store.StateDeleting {
			return "", ErrDeleting
		}
		if c.Kind != mat.kind {
			return "", fmt.Errorf("certificate %s changed kind from %s to %s during its rotation", id, mat.kind, c.Kind)
		}
		// The version is taken and the key sealed inside the transaction, so
		// concurrent rotations get distinct versions, each key sealed to its own.
		c.Version++
		c.UpdatedAt = now
		if err := m.apply(c, mat); err != nil {
			return "", err
		}
		return store.ChangeRotated, nil
	})
	if err != nil {
		return nil, err
	}
	m.logWrite("certificate.rotate", actor, ch)
	return c, nil
}

// kindLabel names a certificate kind in messages.
func kindLabel(kind string) string {
	if kind == store.KindCA {
		return "CA certificate"
	}
	return "client certificate"
}
