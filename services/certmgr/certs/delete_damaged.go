package certs

import (
	"context"
	"errors"
	"fmt"

	"github.com/certbind/certbind/services/certmgr/store"
)

// deleteUndecodable deletes a certificate whose record does not decode, if
// no deployment references it. It cannot be marked deleting first, as
// Delete does, but it needs no mark: the mark makes deploys refuse the
// certificate while references are checked, and deploys already refuse a
// damaged one (Resolve reports it damaged, at the first look and at the
// re-check), for as long as its record stays damaged.
func (m *Manager) deleteUndecodable(ctx context.Context, actor, account, project, id string) (*store.Certificate, error) {
	refs, err := m.refs.CertificateReferences(ctx, account, project, id)
	if err != nil {
		return nil, fmt.Errorf("%w %s, so it was not deleted (try again): %w", ErrReferencesUnavailable, id, err)
	}
	if len(refs) > 0 {
		name := id
		if c, err := m.store.GetCertificate(account, project, id); err == nil && c.Name != "" {
			name = c.Name
		}
		return nil, &ReferencedError{Action: "delete", Certificate: name, References: refs}
	}
	ch, err := m.audited(ctx, "certificate.delete", actor).DeleteCertificate(account, project, id, func(c *store.Certificate) error {
		if c.Damaged == "" {
			return errors.New("the certificate's record was replaced while it was being deleted: try again")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.logWrite("certificate.delete", actor, ch)
	return ch.Before, nil
}
