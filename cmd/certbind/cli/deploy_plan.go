package cli

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// writeDeployPlan prints the answer of a dry run: the deployment a deploy
// would record and the certificates it would reference. In JSON it is the
// Deployment the server answered, whose revision is 0 and whose id is
// empty for an environment not deployed yet.
func writeDeployPlan(w io.Writer, format OutputFormat, d *deploytrackerv1.Deployment) error {
	if format == OutputJSON {
		return writeJSON(w, d)
	}
	fmt.Fprintln(w, "Dry run: every check of a deploy passed; nothing was deployed or recorded.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
	if d.GetId() == "" {
		row("Deployment", fmt.Sprintf("new (the first deploy of environment %s)", d.GetEnvironment()))
	} else {
		row("Deployment", fmt.Sprintf("%s, generation %d would replace generation %d", d.GetId(), d.GetGeneration(), d.GetGeneration()-1))
	}
	row("Environment", fmt.Sprintf("%s (%s)", d.GetEnvironment(), d.GetEnvironmentType()))
	row("URL", orNone(d.GetUrl()))
	// Only the names, as deploy prints them: a value may be a credential.
	row("Variables", joinOrNone(slices.Sorted(maps.Keys(d.GetVariables()))))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.GetRoutes()) == 0 {
		fmt.Fprintln(w, "\nRoutes: none")
	} else {
		fmt.Fprintln(w, "\nRoutes:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tMETHODS\tHANDLER\tTARGET\tMTLS CERTIFICATE\tCA CERTIFICATE")
		for _, r := range d.GetRoutes() {
			methods := "any"
			if len(r.GetMethods()) > 0 {
				methods = strings.Join(r.GetMethods(), ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.GetPath(), methods, r.GetHandler(), routeTarget(r),
				orNone(r.GetMtlsCertificateName()), orNone(r.GetCaCertificateName()))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(d.GetReferences()) == 0 {
		fmt.Fprintln(w, "\nCertificates referenced: none")
	} else {
		fmt.Fprintln(w, "\nCertificates it would reference (each is active and allowed in "+d.GetEnvironmentType()+"):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tKIND\tROUTE\tOPTION")
		for _, r := range d.GetReferences() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cmp.Or(r.GetCertificateName(), "-"), r.GetCertificateId(), r.GetKind(), r.GetRoutePath(), r.GetOption())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "\nTo deploy it, run the same command without --dry-run.")
	return err
}
