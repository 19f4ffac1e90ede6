package deploy

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/deploytracker/gateway"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// Config holds a Tracker's dependencies.
type Config struct {
	Store Deployments
	Certs Certificates
	// Audit receives one line per write; nil discards them.
	Audit *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// EdgeURL is where the edge serves deployments; a route that points
	// there is refused ("": not checked).
	EdgeURL string
	// Tracer records a span per deployment store write; nil records none.
	Tracer trace.TracerProvider
}

// Tracker applies the deploy rules.
type Tracker struct {
	store  Deployments
	certs  Certificates
	audit  *slog.Logger
	trail  AuditTrail // nil when the store keeps no audit trail
	now    func() time.Time
	edge   string
	tracer trace.Tracer
}

// New returns a Tracker.
func New(cfg Config) *Tracker {
	t := &Tracker{store: cfg.Store, certs: cfg.Certs, audit: cfg.Audit, now: cfg.Now, edge: cfg.EdgeURL}
	t.trail, _ = cfg.Store.(AuditTrail)
	if t.audit == nil {
		t.audit = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	t.tracer = tp.Tracer(tracerName)
	return t
}

// Input is one deploy.
type Input struct {
	Account, Project, Environment, EnvironmentType string
	// Config is gateway.json.
	Config    []byte
	Variables map[string]string
}

// Deploy validates a gateway config and records it as the environment's
// deployment. It follows the deploy half of the protocol described at
// certs.Manager.Delete in certmgr: record the references as in progress,
// then re-check the certificates by id, then commit. A failure at any step
// leaves no deployment change behind.
func (t *Tracker) Deploy(ctx context.Context, actor string, in Input) (*store.Deployment, error) {
	d, refs, err := t.plan(ctx, in)
	if err != nil {
		t.refused(ctx, in, err)
		return nil, err
	}
	// Record the intent, then look again by id: a delete that began before
	// the intent was written is visible now, and one that begins after it
	// will see the intent.
	p := store.Pending{Token: randomID("p"), Account: in.Account, Project: in.Project, Environment: in.Environment,
		EnvironmentType: in.EnvironmentType, References: d.References, StartedAt: d.UpdatedAt}
	span := t.storeSpan(ctx, "store.BeginDeploy", in.Account, in.Project, in.Environment)
	err = t.store.BeginDeploy(p)
	endSpan(span, store.Change{}, err)
	if err != nil {
		return nil, err
	}
	ch, err := t.verifyAndCommit(ctx, actor, p, d, refs)
	if err != nil {
		span := t.storeSpan(ctx, "store.AbortDeploy", in.Account, in.Project, in.Environment)
		aerr := t.store.AbortDeploy(p)
		endSpan(span, store.Change{}, aerr)
		if aerr != nil {
			// Left in place it only blocks deletes; the next start drops it.
			t.audit.Error("cannot remove a failed deploy's in-progress record", slog.String("error", aerr.Error()))
		}
		t.refused(ctx, in, err)
		return nil, err
	}
	t.audit.Info("audit", slog.String("action", "deployment.deploy"), slog.String("actor", actor),
		slog.String("account", in.Account), slog.String("project", in.Project), slog.String("deploymentId", ch.DeploymentID),
		slog.String("environment", in.Environment), slog.Int("generation", int(ch.After.Generation)), slog.Uint64("revision", ch.Revision))
	return ch.After, nil
}

// Now is the tracker's clock.
func (t *Tracker) Now() time.Time { return t.now() }

// DryRun makes every check Deploy makes, through the same code up to
// Deploy's first write, and writes nothing: no deploy in progress, no
// generation, no revision, no change on the stream. It returns the
// deployment as a deploy would record it now: the id, creation time and
// next generation of the environment's current deployment (no id and
// generation 1 for a first deploy), and revision 0. A deploy made later
// may still be refused, if a certificate changes in between.
func (t *Tracker) DryRun(ctx context.Context, in Input) (*store.Deployment, error) {
	d, _, err := t.plan(ctx, in)
	if err != nil {
		return nil, err
	}
	current, err := t.List(in.Account, in.Project, in.Environment)
	if err != nil {
		return nil, err
	}
	d.Generation = 1
	if len(current) == 1 {
		cur := current[0]
		d.ID, d.CreatedAt = cur.ID, cur.CreatedAt
		// A damaged record's redeploy starts its generations again, as
		// CommitDeploy does.
		if cur.Damaged == "" {
			d.Generation = cur.Generation + 1
		}
	}
	return d, nil
}

// plan runs the checks of a deploy that come before its first write:
// names, variables, the config, egress, and each certificate the config
// names (exists, is usable, is of the right kind, allows the environment
// type). It returns the deployment to record and the certificate uses,
// in the order of its references.
func (t *Tracker) plan(ctx context.Context, in Input) (*store.Deployment, []gateway.CertificateRef, error) {
	if err := checkScope(in.Account, in.Project); err != nil {
		return nil, nil, err
	}
	if err := checkEnvironment(in.Environment); err != nil {
		return nil, nil, err
	}
	if err := validate.EnvironmentType(in.EnvironmentType).Validate(); err != nil {
		return nil, nil, err
	}
	if err := gateway.ValidateVariables(in.Variables); err != nil {
		return nil, nil, err
	}
	cfg, err := gateway.Parse(in.Config, in.Variables)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLoop(cfg, t.edge); err != nil {
		return nil, nil, err
	}
	refs := cfg.CertificateRefs()

	// First look: by name, for errors that name the route and option.
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	found, err := t.resolve(ctx, in.Account, in.Project, names, nil)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*certmgrv1.Certificate{}
	for _, c := range found {
		byName[c.GetName()] = c
	}
	for _, r := range refs {
		if err := check(r, byName[r.Name], in.Account, in.Project, in.EnvironmentType); err != nil {
			return nil, nil, err
		}
	}
	return build(in, cfg, byName, t.now().UTC()), refs, nil
}

func (t *Tracker) verifyAndCommit(ctx context.Context, actor string, p store.Pending, d *store.Deployment, refs []gateway.CertificateRef) (store.Change, error) {
	var ids []string
	for _, r := range d.References {
		ids = append(ids, r.CertificateID)
	}
	now, err := t.resolve(ctx, p.Account, p.Project, nil, ids)
	if err != nil {
		return store.Change{}, err
	}
	byID := map[string]*certmgrv1.Certificate{}
	for _, c := range now {
		byID[c.GetId()] = c
	}
	for i, r := range d.References {
		c := byID[r.CertificateID]
		if c == nil || c.GetName() != r.CertificateName {
			c = nil // deleted, or deleted and recreated under the name
		}
		if err := check(refs[i], c, p.Account, p.Project, p.EnvironmentType); err != nil {
			return store.Change{}, fmt.Errorf("%w: %w", ErrChanged, err)
		}
	}
	return t.commit(ctx, actor, p, d, randomID("dep"))
}

func (t *Tracker) resolve(ctx context.Context, account, project string, names, ids []string) ([]*certmgrv1.Certificate, error) {
	if len(names) == 0 && len(ids) == 0 {
		return nil, nil
	}
	certs, err := t.certs.Resolve(ctx, account, project, names, ids)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertmgrUnavailable, err)
	}
	return certs, nil
}

// build turns a parsed config into the deployment record, with
// certificate ids next to the names so that a later rename or a new
// certificate under the same name cannot change what the deployment uses.
func build(in Input, cfg *gateway.Config, byName map[string]*certmgrv1.Certificate, now time.Time) *store.Deployment {
	d := &store.Deployment{
		Account: in.Account, Project: in.Project, Environment: in.Environment, EnvironmentType: in.EnvironmentType,
		Config: append([]byte(nil), in.Config...), Variables: in.Variables, CreatedAt: now, UpdatedAt: now,
	}
	for _, r := range cfg.Routes {
		sr := store.Route{Path: r.Path, Methods: r.Methods, Handler: string(r.Handler), BaseURL: r.BaseURL, RewritePattern: r.RewritePattern,
			MTLSCertificateName: r.MTLSCertificate, CACertificateName: r.CACertificate}
		if c := byName[r.MTLSCertificate]; r.MTLSCertificate != "" && c != nil {
			sr.MTLSCertificateID = c.GetId()
		}
		if c := byName[r.CACertificate]; r.CACertificate != "" && c != nil {
			sr.CACertificateID = c.GetId()
		}
		d.Routes = append(d.Routes, sr)
	}
	for _, ref := range cfg.CertificateRefs() {
		c := byName[ref.Name]
		d.References = append(d.References, store.Reference{CertificateID: c.GetId(), CertificateName: ref.Name,
			Kind: wantKind(ref.Option), RoutePath: ref.Path, Option: ref.Option})
	}
	return d
}

// Get returns one deployment.
func (t *Tracker) Get(account, project, id string) (*store.Deployment, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	return t.store.GetDeployment(account, project, id)
}

// List returns a project's deployments, optionally of one environment.
func (t *Tracker) List(account, project, environment string) ([]*store.Deployment, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	if environment != "" {
		if err := checkEnvironment(environment); err != nil {
			return nil, err
		}
	}
	all, err := t.store.ListDeployments(account, project)
	if err != nil || environment == "" {
		return all, err
	}
	for _, d := range all {
		if d.Environment == environment {
			return []*store.Deployment{d}, nil
		}
	}
	return nil, nil
}

// Delete removes a deployment.
func (t *Tracker) Delete(ctx context.Context, actor, account, project, id string) (*store.Deployment, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	ch, err := t.deleteDeployment(ctx, actor, account, project, id)
	if err != nil {
		return nil, err
	}
	t.audit.Info("audit", slog.String("action", "deployment.delete"), slog.String("actor", actor),
		slog.String("account", account), slog.String("project", project), slog.String("deploymentId", id),
		slog.String("environment", ch.Before.Environment), slog.Uint64("revision", ch.Revision))
	return ch.Before, nil
}

// References lists the deployments, committed or in progress, that use a
// certificate.
func (t *Tracker) References(account, project, certificateID string) ([]store.Use, error) {
	if err := checkScope(account, project); err != nil {
		return nil, err
	}
	return t.store.References(account, project, certificateID)
}

// Recover drops the deploys in progress that a crash interrupted. Call it at
// start-up, before serving.
func (t *Tracker) Recover() (int, error) {
	return t.store.DropAllPending()
}

func checkScope(account, project string) error {
	if err := validate.Account(account); err != nil {
		return err
	}
	return validate.Project(project)
}

// checkEnvironment checks an environment name, which appears in the
// deployment's URL.
func checkEnvironment(env string) error { return validate.Environment(env) }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomID(prefix string) string {
	var b [15]byte
	rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}
