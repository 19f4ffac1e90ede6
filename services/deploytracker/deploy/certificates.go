package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/deploytracker/gateway"
)

// Certificates is certmgr as the deploytracker needs it.
type Certificates interface {
	// Resolve returns the certificates of a project that have one of the
	// names or ids; unknown ones are left out.
	Resolve(ctx context.Context, account, project string, names, ids []string) ([]*certmgrv1.Certificate, error)
}

// Certificate kinds as certmgr reports them, and the option that takes each.
const (
	kindClient = "client"
	kindCA     = "ca"
)

func wantKind(option string) string {
	if option == "caCertificate" {
		return kindCA
	}
	return kindClient
}

// check says why c cannot serve ref in an environment of type envType, or
// returns nil. c is nil when no certificate has the name.
func check(ref gateway.CertificateRef, c *certmgrv1.Certificate, account, project, envType string) error {
	where := fmt.Sprintf("route %d (%q) option %q", ref.Route+1, ref.Path, ref.Option)
	fail := func(format string, args ...any) error {
		e := &InputError{Route: ref.Route, Option: ref.Option, Msg: where + ": " + fmt.Sprintf(format, args...)}
		if c != nil {
			e.CertificateID, e.CertificateName = c.GetId(), c.GetName()
		}
		return e
	}
	switch {
	case c == nil:
		return fail("no certificate named %q in account %q, project %q (see `certbind mtls-certificate list --account %s --project %s`)", ref.Name, account, project, account, project)
	case c.GetDamaged() != "":
		return fail("certificate %q is damaged and no edge could use it (%s): name another certificate (`certbind admin verify` lists what is damaged)", ref.Name, c.GetDamaged())
	case c.GetState() == "disabled":
		return fail("certificate %q is disabled: enable it (`certbind mtls-certificate enable`) or name another certificate", ref.Name)
	case c.GetState() == "deleting":
		return fail("certificate %q is being deleted: name another certificate", ref.Name)
	case c.GetState() != "active":
		return fail("certificate %q is %s, not active", ref.Name, c.GetState())
	case c.GetKind() != wantKind(ref.Option) && ref.Option == "caCertificate":
		return fail("certificate %q is a client certificate, but caCertificate takes a CA uploaded with --ca (a client certificate goes in mtlsCertificate)", ref.Name)
	case c.GetKind() != wantKind(ref.Option):
		return fail("certificate %q is a CA certificate, but mtlsCertificate takes a client certificate with its key (a CA goes in caCertificate)", ref.Name)
	case !slices.Contains(c.GetEnvironmentTypes(), envType):
		// --environment-type replaces the whole list, so the advice gives
		// all of it: the types the certificate has and this one.
		return fail("certificate %q is not allowed in %s environments (it allows %s): allow it with `certbind mtls-certificate update --account %s --project %s --name %s %s` (the list replaces the current one) or name another certificate",
			ref.Name, envType, validate.EnvironmentTypeList(c.GetEnvironmentTypes()), account, project, ref.Name,
			validate.EnvironmentTypeFlags(append(slices.Clone(c.GetEnvironmentTypes()), envType)))
	}
	return nil
}
