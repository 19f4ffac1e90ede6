package certs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/certmgr/store"
)

// SetEnvironmentTypes replaces the environment types a certificate is
// allowed in. Taking away a type that a deployment of that type uses is
// refused with a *ReferencedError.
//
// Adding types needs no check and is one write. Taking types away follows
// the write-then-check protocol of Delete, so that a removal and a deploy
// of a removed type never both succeed:
//
//  1. certmgr durably marks the types as being removed (RemovingTypes); from
//     then on DeployableTypes leaves them out, so a deploy that re-checks
//     the certificate by id refuses it;
//  2. certmgr asks the deploytracker for references, in-progress deploys
//     included;
//  3. with none of a removed type, it commits the new types; otherwise it
//     clears the mark and refuses, naming the deployments.
//
// A deploy that recorded its references before step 1 is seen by step 2; one
// that re-checks after step 1 sees the mark. Only one removal may be in
// progress on a certificate: another change that takes types away meanwhile
// gets ErrTypesChanging. A crash between the steps leaves the mark, which
// ResumeDeletes finishes or clears. With several replicas the change is
// claimed first, as Delete's is, and gets ErrBusy while another holds the
// claim.
//
// The mark is not part of the certificate as the API and the change stream
// show it. Writing it (and clearing it after a refusal) is a revision like
// any other, so a subscriber may receive an update whose certificate looks
// unchanged, as it does for Delete's mark; its environment types are still
// all the old ones, so edges go on using the certificate in every type it
// had until the removal commits. That is safe: the removal commits only
// when no deployment of a removed type uses the certificate, and the
// commit is the change that takes the types away, in order, as before.
func (m *Manager) SetEnvironmentTypes(ctx context.Context, actor, account, project, id string, types []string) (*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	types, err := validate.EnvironmentTypes(types)
	if err != nil {
		return nil, err
	}
	// Without a deploytracker nothing deploys, so there is nothing to race
	// and a removal is one write, like an addition.
	_, unchecked := m.refs.(NoReferences)
	if !unchecked {
		// Whether this takes types away is known only on the stored
		// record, so the claim a removal needs is taken for any change.
		release, held, err := m.claim(account, project, id)
		if err != nil {
			return nil, err
		}
		if !held {
			return nil, busyError(id)
		}
		defer release()
	}
	var removed []string
	// The mark of a removal is not audited by itself: the write that ends
	// the removal is.
	// The audit entry is made after fn ran, in the same transaction.
	notMark := func(store.Change) bool { return len(removed) == 0 }
	c, ch, err := m.auditedIf(ctx, "certificate.update", actor, notMark).UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if c.State == store.StateDeleting {
			return "", ErrDeleting
		}
		removed = missing(c.EnvironmentTypes, types)
		if unchecked {
			removed = nil
		}
		if len(removed) > 0 {
			if len(c.RemovingTypes) > 0 {
				return "", fmt.Errorf("%w on certificate %q (removing %s); try again when it has finished",
					ErrTypesChanging, c.Name, strings.Join(c.RemovingTypes, ", "))
			}
			c.RemovingTypes = removed
			c.UpdatedAt = m.now().UTC()
			return store.ChangeUpdated, nil
		}
		if slices.Equal(c.EnvironmentTypes, types) {
			return "", nil
		}
		c.EnvironmentTypes = types
		c.UpdatedAt = m.now().UTC()
		return store.ChangeUpdated, nil
	})
	if err != nil {
		return nil, err
	}
	if len(removed) == 0 {
		m.logWrite("certificate.update", actor, ch)
		return c, nil
	}
	m.logWrite("certificate.update-started", actor, ch)
	return m.finishRemoval(ctx, actor, account, project, id, removed, types)
}

// finishRemoval runs steps 2 and 3 of SetEnvironmentTypes on a certificate
// marked as removing the types removed. The certificate's types become
// target and what it has beyond removed; a nil target (ResumeDeletes, which
// does not know the request) keeps what it has beyond removed.
func (m *Manager) finishRemoval(ctx context.Context, actor, account, project, id string, removed, target []string) (*store.Certificate, error) {
	refs, err := m.refs.CertificateReferences(ctx, account, project, id)
	if err != nil {
		name := m.putBackTypes(ctx, actor, account, project, id, removed)
		return nil, fmt.Errorf("%w %q, so its environment types were not changed (try again): %w", ErrReferencesUnavailable, name, err)
	}
	var blocking []Reference
	for _, r := range refs {
		if slices.Contains(removed, r.EnvironmentType) {
			blocking = append(blocking, r)
		}
	}
	if len(blocking) > 0 {
		return nil, &ReferencedError{Action: "remove environment type(s) " + strings.Join(removed, ", ") + " from",
			Certificate: m.putBackTypes(ctx, actor, account, project, id, removed), References: blocking,
			Advice: removalAdvice(account, project, id, target, blocking)}
	}
	c, ch, err := m.audited(ctx, "certificate.update", actor).UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if !slices.Equal(c.RemovingTypes, removed) {
			return "", fmt.Errorf("%w on certificate %q: the removal of %s was finished or refused concurrently; check its environment types and try again",
				ErrTypesChanging, c.Name, strings.Join(removed, ", "))
		}
		if c.State == store.StateDeleting {
			return "", ErrDeleting
		}
		// Only the marked types go: a type outside target that the
		// certificate gained meanwhile was never checked, so it stays.
		keep := slices.Concat(missing(c.EnvironmentTypes, removed), target)
		if len(keep) == 0 {
			// Only ResumeDeletes, which does not know what the types were
			// to become, gets here; a certificate keeps at least one type.
			return "", errNoTypesLeft
		}
		types, err := validate.EnvironmentTypes(keep)
		if err != nil {
			return "", err
		}
		c.EnvironmentTypes, c.RemovingTypes = types, nil
		c.UpdatedAt = m.now().UTC()
		return store.ChangeUpdated, nil
	})
	if err != nil {
		if !errors.Is(err, ErrTypesChanging) {
			m.putBackTypes(ctx, actor, account, project, id, removed)
		}
		return nil, err
	}
	m.logWrite("certificate.update", actor, ch)
	return c, nil
}

// putBackTypes clears a removal mark that the removal of removed wrote and
// returns the certificate's name. It runs when a removal is refused; if it
// fails, the mark stays and ResumeDeletes finishes or clears it later.
func (m *Manager) putBackTypes(ctx context.Context, actor, account, project, id string, removed []string) string {
	c, ch, err := m.audited(ctx, "certificate.update", actor).UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if !slices.Equal(c.RemovingTypes, removed) {
			return "", nil
		}
		c.RemovingTypes = nil
		c.UpdatedAt = m.now().UTC()
		return store.ChangeUpdated, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return id // deleted meanwhile: no mark is left
	}
	if err != nil {
		m.audit.Error("cannot clear a refused removal of environment types; deploys of those types stay refused until the next retry",
			slog.String("certificateId", id), slog.String("error", err.Error()))
		return id
	}
	m.logWrite("certificate.update-refused", actor, ch)
	return c.Name
}

// DeployableTypes returns the environment types a new deployment may use c
// in: its types, less those a removal in progress is taking away. The
// deploytracker is told these, so that a deploy re-checking c while a
// removal is checking for references refuses it.
func DeployableTypes(c *store.Certificate) []string {
	if len(c.RemovingTypes) == 0 {
		return c.EnvironmentTypes
	}
	return missing(c.EnvironmentTypes, c.RemovingTypes)
}

// missing returns the elements of before that are not in after.
func missing(before, after []string) []string {
	var out []string
	for _, t := range before {
		if !slices.Contains(after, t) {
			out = append(out, t)
		}
	}
	return out
}

// errNoTypesLeft refuses to finish a removal, interrupted by a crash, that
// would leave a certificate no environment type; the removal is put back.
var errNoTypesLeft = errors.New("the removal would leave the certificate no environment type")

// removalAdvice says what to do about a removal of environment types that
// deployments still use: pass the full list that keeps the types in use
// (--environment-type replaces the whole list, so a shorter one would take
// away more), or move those deployments off the certificate first. target
// is the list the caller asked for; nil (a resumed removal) gives the
// second half only.
func removalAdvice(account, project, id string, target []string, blocking []Reference) string {
	move := "to take those away too, first redeploy those deployments without this certificate, then try again"
	if target == nil {
		return move
	}
	keep := slices.Clone(target)
	for _, r := range blocking {
		keep = append(keep, r.EnvironmentType)
	}
	return fmt.Sprintf("to take away only the types no deployment uses, run `certbind mtls-certificate update --account %s --project %s --cert-id %s %s`; %s",
		account, project, id, validate.EnvironmentTypeFlags(keep), move)
}
