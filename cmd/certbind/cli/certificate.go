package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func newCertificateCmd(g *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "mtls-certificate",
		Aliases: []string{"mtls-certificates"},
		Short:   "Upload and manage the client certificates deployments present to backends",
		Long: `An mTLS certificate is a client certificate and its private key, uploaded once
under a name that is unique in its account and project. Gateway routes refer
to it by that name, and the edge presents it whenever it calls the backend.
A CA certificate (--ca) verifies backends instead.

To renew a certificate in place, rotate it: the name and id stay, the
version goes up, and deployments pick up the new material without a redeploy.

A certificate that a deployment references cannot be deleted. To retire one:
disable it, redeploy without it, then delete it.`,
		Example: `  certbind mtls-certificate create --cert cert.pem --key key.pem --name myBackendCert \
      --account acme --project shop --environment-type development --environment-type production
  certbind mtls-certificate list --account acme --project shop
  certbind mtls-certificate rotate --account acme --project shop --name myBackendCert \
      --cert renewed.pem --key renewed-key.pem
  certbind mtls-certificate disable --account acme --project shop --name myBackendCert`,
		RunE: runGroup,
	}
	cmd.AddCommand(
		newCertificateCreateCmd(g, getenv),
		newCertificateListCmd(g),
		newCertificateDescribeCmd(g),
		newCertificateUpdateCmd(g),
		newCertificateRotateCmd(g, getenv),
		newCertificateDisableCmd(g),
		newCertificateEnableCmd(g),
		newCertificateDeleteCmd(g),
	)
	return cmd
}

// runGroup runs a command that only groups subcommands: it shows help, and
// refuses an unknown subcommand rather than silently showing help for it,
// suggesting the subcommands whose names are close.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default for the top level
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("; did you mean %q?", s[0])
		for _, more := range s[1:] {
			hint = strings.TrimSuffix(hint, "?") + fmt.Sprintf(" or %q?", more)
		}
	}
	return usageErrorf("unknown command %q for %q%s (see %q)", args[0], cmd.CommandPath(), hint, cmd.CommandPath()+" --help")
}

// projectOptions selects the account and project a command works in.
type projectOptions struct {
	Account string
	Project string
}

// AddFlags registers --account and --project.
func (o *projectOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "account that owns the certificates (required; or "+EnvAccount+" or a profile), e.g. acme")
	fs.StringVar(&o.Project, "project", "", "project within the account (required; or "+EnvProject+" or a profile), e.g. shop")
}

// Validate checks that both are given and well formed.
func (o *projectOptions) Validate() error {
	if o.Account == "" {
		return usageErrorf("--account is required (e.g. --account acme)")
	}
	if err := validate.Account(o.Account); err != nil {
		return flagError("account", err)
	}
	if o.Project == "" {
		return usageErrorf("--project is required (e.g. --project shop)")
	}
	if err := validate.Project(o.Project); err != nil {
		return flagError("project", err)
	}
	return nil
}

// flagError names the flag in front of a validation message.
// It is a usage error (exit 2).
func flagError(flag string, err error) error {
	return usageError(fmt.Errorf("--%s: %w", flag, err))
}

// targetOptions selects one certificate, by id or by name.
type targetOptions struct {
	projectOptions
	CertID string
	Name   string
}

// AddFlags registers --account, --project, --cert-id and --name.
func (o *targetOptions) AddFlags(fs *pflag.FlagSet) {
	o.projectOptions.AddFlags(fs)
	fs.StringVar(&o.CertID, "cert-id", "", "id of the certificate (this, --name or the name or id as the argument)")
	fs.StringVar(&o.Name, "name", "", "name of the certificate, e.g. myBackendCert (this, --cert-id or the name or id as the argument)")
}

// Validate checks the project and that exactly one of --cert-id and --name
// is given.
func (o *targetOptions) Validate() error {
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.CertID == "" && o.Name == "":
		return errors.New("give the certificate with --cert-id ID or --name NAME, or its name or id as the argument (describe myBackendCert)")
	case o.CertID != "" && o.Name != "":
		return errors.New("give either --cert-id or --name, not both")
	case o.Name != "":
		if err := validate.CertificateName(o.Name); err != nil {
			return flagError("name", err)
		}
	}
	return nil
}

// resolve returns the certificate id: --cert-id as given, or the id of the
// certificate that --name names, found by listing with the name filter.
func (o *targetOptions) resolve(ctx context.Context, c *Client) (string, error) {
	if o.CertID != "" {
		return o.CertID, nil
	}
	certs, err := c.ListAllCertificates(ctx, &certmgrv1.ListCertificatesRequest{
		Account: o.Account, Project: o.Project, Name: o.Name,
	})
	if err != nil {
		return "", err
	}
	// The comparison is repeated here so that a server that ignored the
	// filter can never make the CLI act on the wrong certificate.
	var ids []string
	for _, cert := range certs {
		if cert.GetName() == o.Name {
			ids = append(ids, cert.GetId())
		}
	}
	switch len(ids) {
	case 0:
		return "", notFoundError(fmt.Errorf("no certificate named %q in account %s, project %s (see the names with: certbind mtls-certificate list --account %s --project %s)",
			o.Name, o.Account, o.Project, o.Account, o.Project))
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d certificates are named %q in account %s, project %s; pick one with --cert-id (one of %v)",
		len(ids), o.Name, o.Account, o.Project, ids)
}
