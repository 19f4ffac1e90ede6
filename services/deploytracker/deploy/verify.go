package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// Finding severities.
const (
	// SeverityError: requests, deploys or deletes will fail because of it.
	SeverityError = "error"
	// SeverityWarning: unfinished work, or a step of a rotation or a
	// deletion that is not done yet.
	SeverityWarning = "warning"
)

// LeftOverAfter is how old a deploy in progress must be before verify
// calls it left over: a deploy takes a few certmgr round trips.
const LeftOverAfter = time.Minute

// resolveBatch bounds the ids of one ResolveCertificates call.
const resolveBatch = 500

// Finding is one problem Verify found.
type Finding struct {
	Severity, Check                             string
	Account, Project, Environment, DeploymentID string
	CertificateID, CertificateName, RoutePath   string
	Message                                     string
}

// Report is what Verify found, with the counts of what it read.
type Report struct {
	Findings                                     []Finding
	Deployments, References, InProgress, Changes int64
}

// Verify reads every record of the store, checks the id index, and looks
// up in certmgr every certificate a deployment references: one that is
// missing, damaged, of the wrong kind or not allowed in the deployment's
// environment type is an error (its routes answer 502), a disabled or
// deleting one a warning (a rotation or a deletion under way). Deploys in
// progress older than LeftOverAfter are reported. It changes nothing.
func (t *Tracker) Verify(ctx context.Context) (*Report, error) {
	scan, ok := t.store.(Scanner)
	if !ok {
		return nil, errors.New("verify: this store cannot walk its records (it does not implement deploy.Scanner)")
	}
	r := &Report{}
	now := t.now()
	recs, err := scan.ScanDeployments()
	if err != nil {
		return nil, err
	}
	type project struct{ account, project string }
	refs := map[project][]string{}
	for _, rec := range recs {
		r.Deployments++
		d := rec.Deployment
		f := Finding{Severity: SeverityError, Account: rec.Account, Project: rec.Project, Environment: rec.Environment, DeploymentID: d.ID}
		if d.Damaged != "" {
			f.Check = "undecodable_record"
			f.Message = fmt.Sprintf("deployment %s of environment %q: %s; edges do not serve it: redeploy the environment (or delete the deployment) to replace it", d.ID, rec.Environment, d.Damaged)
			r.Findings = append(r.Findings, f)
			continue
		}
		if rec.IndexedEnvironment != rec.Environment {
			f.Check = "id_index_missing"
			f.Message = fmt.Sprintf("the id index does not point %s at environment %q (it holds %q): the deployment cannot be described or deleted by id; redeploy the environment", d.ID, rec.Environment, rec.IndexedEnvironment)
			r.Findings = append(r.Findings, f)
		}
		for _, ref := range d.References {
			r.References++
			p := project{rec.Account, rec.Project}
			if !slices.Contains(refs[p], ref.CertificateID) {
				refs[p] = append(refs[p], ref.CertificateID)
			}
		}
	}
	dangling, err := scan.ScanIDs()
	if err != nil {
		return nil, err
	}
	for _, d := range dangling {
		r.Findings = append(r.Findings, Finding{Severity: SeverityError, Check: "id_index_dangling", Account: d.Account, Project: d.Project,
			Environment: d.Environment, DeploymentID: d.ID,
			Message: fmt.Sprintf("the id %s points at environment %q, which has no deployment; restore the store from a backup", d.ID, d.Environment)})
	}

	certs := map[string]*certmgrv1.Certificate{} // by account, project and id
	for p, ids := range refs {
		for batch := range slices.Chunk(ids, resolveBatch) {
			found, err := t.resolve(ctx, p.account, p.project, nil, batch)
			if err != nil {
				return nil, err
			}
			for _, c := range found {
				certs[p.account+"\x00"+p.project+"\x00"+c.GetId()] = c
			}
		}
	}
	for _, rec := range recs {
		d := rec.Deployment
		for _, ref := range d.References {
			if f, bad := checkReference(d, ref, certs[d.Account+"\x00"+d.Project+"\x00"+ref.CertificateID]); bad {
				r.Findings = append(r.Findings, f)
			}
		}
	}

	pending, err := scan.ScanPending()
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		r.InProgress++
		f := Finding{Severity: SeverityWarning, Account: p.Account, Project: p.Project, Environment: p.Environment}
		switch {
		case p.Undecodable:
			f.Severity, f.Check = SeverityError, "undecodable_deploy_in_progress"
			f.Message = fmt.Sprintf("a deploy in progress of environment %q does not decode; the deploytracker drops every deploy in progress at its next start", p.Environment)
		case now.Sub(p.StartedAt) > LeftOverAfter:
			f.Check = "deploy_in_progress_left_over"
			f.Message = fmt.Sprintf("a deploy of environment %q started %s ago has not finished; it counts as a reference until the deploytracker drops it at its next start", p.Environment, now.Sub(p.StartedAt).Round(time.Second))
		default:
			continue
		}
		r.Findings = append(r.Findings, f)
	}

	var revs []uint64
	if r.Changes, revs, err = scan.ScanChanges(); err != nil {
		return nil, err
	}
	if len(revs) > 0 {
		r.Findings = append(r.Findings, Finding{Severity: SeverityError, Check: "undecodable_change",
			Message: fmt.Sprintf("%d changelog entries do not decode (first at revision %d); an edge that resumes from before them fails until it resyncs from a fresh snapshot (restart it)", len(revs), revs[0])})
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return strings.Compare(a.Account+"\x00"+a.Project+"\x00"+a.Environment, b.Account+"\x00"+b.Project+"\x00"+b.Environment)
	})
	return r, nil
}

// checkReference says what is wrong with the certificate c (nil: not
// found) that a route of d references, if anything.
func checkReference(d *store.Deployment, ref store.Reference, c *certmgrv1.Certificate) (Finding, bool) {
	f := Finding{Severity: SeverityError, Account: d.Account, Project: d.Project, Environment: d.Environment, DeploymentID: d.ID,
		CertificateID: ref.CertificateID, CertificateName: ref.CertificateName, RoutePath: ref.RoutePath}
	where := fmt.Sprintf("route %q of deployment %s (environment %q) names %s %q", ref.RoutePath, d.ID, d.Environment, ref.Option, ref.CertificateName)
	switch {
	case c == nil:
		f.Check = "certificate_missing"
		f.Message = where + fmt.Sprintf(", but certificate %s does not exist; the route answers 502: upload a certificate and redeploy", ref.CertificateID)
	case c.GetDamaged() != "":
		f.Check = "certificate_damaged"
		f.Message = where + ", which is damaged (" + c.GetDamaged() + "); the route answers 502"
	case c.GetKind() != wantKind(ref.Option):
		f.Check = "certificate_wrong_kind"
		f.Message = where + fmt.Sprintf(", which is a %s certificate; the route answers 502: redeploy with the right certificate", c.GetKind())
	case !slices.Contains(c.GetEnvironmentTypes(), d.EnvironmentType):
		f.Check = "certificate_not_allowed_in_environment_type"
		f.Message = where + fmt.Sprintf(", which is not allowed in %s environments (it allows %s); the route answers 502: add the type with `certbind mtls-certificate update` or redeploy with another certificate",
			d.EnvironmentType, strings.Join(c.GetEnvironmentTypes(), ", "))
	case c.GetState() == "disabled":
		f.Severity, f.Check = SeverityWarning, "certificate_disabled"
		f.Message = where + ", which is disabled: the route still uses it until the environment is redeployed without it"
	case c.GetState() == "deleting":
		f.Severity, f.Check = SeverityWarning, "certificate_deleting"
		f.Message = where + ", whose delete is in progress; the delete will be refused while this deployment uses it"
	default:
		return f, false
	}
	return f, true
}
