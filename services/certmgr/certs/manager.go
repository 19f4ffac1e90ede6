package certs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Config holds a Manager's dependencies.
type Config struct {
	Store  Certificates
	Sealer *seal.Sealer
	// References is asked before deletes; nil means NoReferences.
	References References
	// Audit receives one line per write. nil discards them.
	Audit *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tracer records a span per store transaction; nil records none.
	Tracer trace.TracerProvider
}

// Manager applies certmgr's rules to certificates.
type Manager struct {
	store  Certificates
	sealer *seal.Sealer
	refs   References
	audit  *slog.Logger
	trail  AuditTrail  // nil when the store keeps no audit trail
	owners Owners      // nil when the store has one replica (bbolt)
	local  localOwners // the claims of this process, when owners is nil
	now    func() time.Time
	tracer trace.Tracer
}

// New returns a Manager.
func New(cfg Config) *Manager {
	m := &Manager{store: cfg.Store, sealer: cfg.Sealer, refs: cfg.References, audit: cfg.Audit, now: cfg.Now}
	m.trail, _ = cfg.Store.(AuditTrail)
	m.owners, _ = cfg.Store.(Owners)
	if m.refs == nil {
		m.refs = NoReferences{}
	}
	if m.audit == nil {
		m.audit = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	m.tracer = tp.Tracer(tracerName)
	return m
}

// Now is the manager's clock.
func (m *Manager) Now() time.Time { return m.now() }

// CreateInput is an upload.
type CreateInput struct {
	Account, Project, Name string
	EnvironmentTypes       []string
	// CA uploads CA certificates (Material.CertificatePEM) with no key.
	CA       bool
	Material material.Input
}

// Create validates an upload and stores it. Validation is complete before
// anything is written: a refused upload changes nothing.
func (m *Manager) Create(ctx context.Context, actor string, in CreateInput) (*store.Certificate, error) {
	if err := checkScope(in.Account, in.Project); err != nil {
		return nil, err
	}
	if err := validate.CertificateName(in.Name); err != nil {
		return nil, err
	}
	types, err := validate.EnvironmentTypes(in.EnvironmentTypes)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	c := &store.Certificate{
		ID:               NewID(),
		Account:          in.Account,
		Project:          in.Project,
		Name:             in.Name,
		EnvironmentTypes: types,
		State:            store.StateActive,
		Version:          1,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
	kind := store.KindClient
	if in.CA {
		kind = store.KindCA
	}
	mat, err := parseMaterial(kind, in.Material, now)
	if err != nil {
		return nil, err
	}
	if err := m.apply(c, mat); err != nil {
		return nil, err
	}
	ch, err := m.audited(ctx, "certificate.create", actor).CreateCertificate(c)
	if err != nil {
		return nil, err
	}
	m.logWrite("certificate.create", actor, ch)
	return ch.After, nil
}

// Get returns one certificate.
func (m *Manager) Get(account, project, id string) (*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	return m.store.GetCertificate(account, project, id)
}

// Disable marks a certificate disabled: new deployments may not use it.
// Deployments that already use it keep it, and edges go on presenting it,
// until they are redeployed, so disabling fails no request; it is the step
// before delete. Disabling a disabled certificate changes nothing.
func (m *Manager) Disable(ctx context.Context, actor, account, project, id string) (*store.Certificate, error) {
	return m.setState(ctx, "certificate.disable", actor, account, project, id, store.StateDisabled, store.ChangeDisabled)
}

// Enable reverses Disable.
func (m *Manager) Enable(ctx context.Context, actor, account, project, id string) (*store.Certificate, error) {
	return m.setState(ctx, "certificate.enable", actor, account, project, id, store.StateActive, store.ChangeEnabled)
}

func (m *Manager) setState(ctx context.Context, action, actor, account, project, id, state, change string) (*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	c, ch, err := m.audited(ctx, action, actor).UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if c.State == store.StateDeleting {
			return "", ErrDeleting
		}
		if c.State == state {
			return "", nil
		}
		c.State = state
		c.UpdatedAt = m.now().UTC()
		return change, nil
	})
	if err != nil {
		return nil, err
	}
	m.logWrite(action, actor, ch)
	return c, nil
}

// Delete removes a certificate that no deployment references.
//
// The check and the delete cannot be one transaction, because the references
// live in the deploytracker's store. The protocol is write-then-check on both
// sides:
//
//  1. certmgr durably marks the certificate "deleting";
//  2. certmgr asks the deploytracker for references, in-progress deploys
//     included;
//  3. with none, certmgr deletes it; otherwise it restores the previous
//     state and refuses.
//
// A deploy does the mirror image: it durably records its references as
// "in progress" first, then asks certmgr whether every certificate is still
// active (not deleting, not gone), and only then commits. Whichever side
// writes second is bound to see the other's write: either the delete sees the
// in-progress deploy and is refused, or the deploy sees "deleting" (or
// nothing) and fails. So no interleaving lets a deployment reference a
// deleted certificate. A crash between the steps leaves a certificate
// "deleting", which ResumeDeletes finishes on the next start (deploys refuse
// it meanwhile, which is safe), or an in-progress deploy, which the
// deploytracker drops on its next start, or on etcd when the lease of the
// replica that recorded it expires (which only removes references).
//
// SetEnvironmentTypes follows the same protocol to take environment types
// away from a certificate.
//
// With several replicas (a store that implements Owners), the replica
// claims the certificate before marking it and releases it once the
// delete is done or refused, so that another replica's ResumeDeletes
// finishes the delete only if this replica dies meanwhile. A delete of a
// certificate whose claim another change holds fails with ErrBusy.
func (m *Manager) Delete(ctx context.Context, actor, account, project, id string) (*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	release, held, err := m.claim(account, project, id)
	if err != nil {
		return nil, err
	}
	if !held {
		return nil, busyError(id)
	}
	defer release()
	_, ch, err := m.store.UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if c.State == store.StateDeleting {
			return "", nil // an earlier attempt stopped midway: carry on
		}
		c.PrevState, c.State = c.State, store.StateDeleting
		c.UpdatedAt = m.now().UTC()
		return store.ChangeUpdated, nil
	})
	if errors.Is(err, store.ErrUndecodable) {
		return m.deleteUndecodable(ctx, actor, account, project, id)
	}
	if err != nil {
		return nil, err
	}
	m.logWrite("certificate.delete-started", actor, ch)
	return m.finishDelete(ctx, actor, account, project, id)
}

// finishDelete runs steps 2 and 3 of Delete on a certificate marked deleting.
func (m *Manager) finishDelete(ctx context.Context, actor, account, project, id string) (*store.Certificate, error) {
	refs, err := m.refs.CertificateReferences(ctx, account, project, id)
	if err != nil {
		cur := m.restore(ctx, actor, account, project, id)
		return nil, fmt.Errorf("%w %q, so it was not deleted (try again): %w", ErrReferencesUnavailable, cur, err)
	}
	if len(refs) > 0 {
		return nil, &ReferencedError{Action: "delete", Certificate: m.restore(ctx, actor, account, project, id), References: refs}
	}
	ch, err := m.audited(ctx, "certificate.delete", actor).DeleteCertificate(account, project, id, func(c *store.Certificate) error {
		if c.State != store.StateDeleting {
			return fmt.Errorf("%w: its delete was refused concurrently", ErrDeleting)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.logWrite("certificate.delete", actor, ch)
	return ch.Before, nil
}

// restore puts a certificate marked deleting back in its previous state and
// returns its name. It runs when a delete is refused; if it fails, the
// certificate stays deleting and ResumeDeletes tries again.
func (m *Manager) restore(ctx context.Context, actor, account, project, id string) string {
	c, ch, err := m.store.UpdateCertificate(account, project, id, func(c *store.Certificate) (string, error) {
		if c.State != store.StateDeleting {
			return "", nil
		}
		c.State, c.PrevState = c.PrevState, ""
		if c.State == "" {
			c.State = store.StateActive
		}
		c.UpdatedAt = m.now().UTC()
		return store.ChangeUpdated, nil
	})
	if err != nil {
		m.audit.Error("cannot restore certificate after a refused delete; it stays deleting until the next retry",
			slog.String("certificateId", id), slog.String("error", err.Error()))
		return id
	}
	m.logWrite("certificate.delete-refused", actor, ch)
	return c.Name
}

// ResumeDeletes finishes the deletes and the removals of environment types
// that a crash interrupted: every certificate still marked deleting is
// deleted if nothing references it, or restored; every removal still marked
// in progress is committed if no deployment of the removed types references
// the certificate, or put back. It returns how many it handled.
//
// With several replicas (a store that implements Owners) it handles only
// the marks no live replica holds: those of a replica that died.
func (m *Manager) ResumeDeletes(ctx context.Context) (int, error) {
	all, _, err := m.store.Snapshot()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range all {
		if c.State != store.StateDeleting && len(c.RemovingTypes) == 0 {
			continue
		}
		done, err := m.resume(ctx, c)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// resume finishes or puts back the delete or the removal marked on c, if
// no live change holds its claim; done says whether it did.
func (m *Manager) resume(ctx context.Context, c *store.Certificate) (done bool, err error) {
	release, held, err := m.claim(c.Account, c.Project, c.ID)
	if err != nil || !held {
		return false, err
	}
	defer release()
	// The snapshot may predate the end of the change that held the claim
	// until now: read the mark again now that this replica holds it.
	c, err = m.store.GetCertificate(c.Account, c.Project, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case c.State == store.StateDeleting:
		// A removal marked on it too is resumed on a later pass if the
		// delete is refused.
		if _, err := m.finishDelete(ctx, "certmgr", c.Account, c.Project, c.ID); err != nil && !errors.Is(err, ErrReferenced) {
			return false, err
		}
	case len(c.RemovingTypes) > 0:
		_, err := m.finishRemoval(ctx, "certmgr", c.Account, c.Project, c.ID, c.RemovingTypes, nil)
		if err != nil && !errors.Is(err, ErrReferenced) && !errors.Is(err, ErrTypesChanging) && !errors.Is(err, ErrDeleting) && !errors.Is(err, errNoTypesLeft) {
			return false, err
		}
	default:
		return false, nil
	}
	return true, nil
}

// References lists the deployments that use a certificate.
func (m *Manager) References(ctx context.Context, account, project, id string) ([]Reference, error) {
	if _, err := m.Get(account, project, id); err != nil {
		return nil, err
	}
	refs, err := m.refs.CertificateReferences(ctx, account, project, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReferencesUnavailable, err)
	}
	return refs, nil
}

// Resolve looks certificates up by name or id in one project, for the
// deploytracker.
func (m *Manager) Resolve(account, project string, names, ids []string) ([]*store.Certificate, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	return m.store.ResolveCertificates(account, project, names, ids)
}

// PrivateKey unseals a client certificate's private key (PKCS#8 DER) for the
// distribution stream. It is the only way a key leaves certmgr. It returns
// nil for a CA bundle, which has no key.
//
// A record whose chain does not decode or whose key does not unseal (the
// master key is checked at start, so that means the record was altered) is
// damaged: the error wraps ErrDamaged and never holds key bytes.
func (m *Manager) PrivateKey(c *store.Certificate) ([]byte, error) {
	if c.Damaged != "" {
		return nil, undecodableError(c)
	}
	if !chainDecodes(c.ChainPEM) {
		return nil, fmt.Errorf("%w: the certificate chain of %s (version %d) does not decode; rotate it in place with new material", ErrDamaged, c.ID, c.Version)
	}
	if c.Kind != store.KindClient {
		return nil, nil
	}
	key, err := m.sealer.Open(c.SealedKey, keyAAD(c.ID, c.Version))
	if err != nil {
		return nil, fmt.Errorf("%w: the private key of %s (version %d) does not unseal (%w); rotate it in place with new material", ErrDamaged, c.ID, c.Version, err)
	}
	return key, nil
}

// logWrite writes the audit line of one write: who, what, which
// certificate, at which revision. It never logs material.
func (m *Manager) logWrite(action, actor string, ch store.Change) {
	if ch.Revision == 0 {
		return // nothing was written
	}
	rec := ch.After
	if rec == nil {
		rec = ch.Before
	}
	m.audit.Info("audit",
		slog.String("action", action),
		slog.String("actor", actor),
		slog.String("account", ch.Account),
		slog.String("project", ch.Project),
		slog.String("certificateId", ch.CertificateID),
		slog.String("name", rec.Name),
		slog.Uint64("revision", ch.Revision),
	)
}

// keyAAD binds a sealed key to its certificate and version, so a sealed key
// copied onto another record does not open.
func keyAAD(id string, version int32) []byte {
	return []byte("certbind/certmgr/private-key\x00" + id + "\x00" + strconv.Itoa(int(version)))
}

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

const (
	idPrefix   = "crt_"
	idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	// idTimeChars is how many of an id's 24 characters tell the time it
	// was made: milliseconds since 1970, 4 bits a character, enough until
	// the year 2527.
	idTimeChars = 11
)

// NewID returns a new certificate id: "crt_" and 24 characters of the
// base32 alphabet, of which the first 11 spell the time in milliseconds
// with the letters a to p as the digits 0 to 15 (these sort as the time
// does) and the other 13 are random (65 bits).
//
// Ids made later sort after earlier ones, so the records the store keys by
// id are appended at the end of their project's range: a group of creates
// committed together rewrites the few pages at that end rather than a page
// (and the branch above it) per create, as random ids did. An id made in
// the same millisecond as another may sort before it; that costs nothing.
func NewID() string {
	return newIDAt(time.Now())
}

func newIDAt(t time.Time) string {
	var b [len(idPrefix) + 24]byte
	copy(b[:], idPrefix)
	ms := uint64(max(t.UnixMilli(), 0))
	for i := idTimeChars - 1; i >= 0; i-- {
		b[len(idPrefix)+i] = idAlphabet[ms&15]
		ms >>= 4
	}
	random := b[len(idPrefix)+idTimeChars:]
	rand.Read(random)
	for i, r := range random {
		random[i] = idAlphabet[r&31]
	}
	return string(b[:])
}

func checkID(id string) error {
	rest, ok := strings.CutPrefix(id, idPrefix)
	if !ok || len(rest) != 24 {
		return &InputError{Field: "id", Msg: fmt.Sprintf("%q is not a certificate id (ids look like crt_ followed by 24 letters and digits; to use a name, pass --name)", truncate(id, 64))}
	}
	if _, err := idEncoding.DecodeString(rest); err != nil {
		return &InputError{Field: "id", Msg: fmt.Sprintf("%q is not a certificate id (ids look like crt_ followed by 24 letters and digits)", truncate(id, 64))}
	}
	return nil
}

func checkScope(account, project string) error {
	if err := validate.Account(account); err != nil {
		return err
	}
	return validate.Project(project)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// IsInvalid reports whether err is a validation failure the caller can fix.
func IsInvalid(err error) bool {
	var ie *InputError
	var ve *validate.Error
	var me *material.Error
	return errors.As(err, &ie) || errors.As(err, &ve) || errors.As(err, &me)
}
