package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newCertificateDeleteCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	c := &confirmOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"rm"},
		Use:     "delete (NAME | ID | --name NAME | --cert-id ID) --account A --project P",
		Short:   "Delete a certificate that no deployment references",
		Long: `Deletes a certificate and its encrypted key for good. The server refuses while
any deployment references the certificate, and its error names those
deployments: disable the certificate, redeploy them without it, then delete.

` + confirmHelp + `

Prints "deleted certificate NAME (ID)"; with --output json, the API's answer,
which holds the id.`,
		Example: `  # Retire myBackendCert:
  certbind mtls-certificate disable --account acme --project shop --name myBackendCert
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json
  certbind mtls-certificate delete --account acme --project shop --name myBackendCert`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				// The name is fetched first so the confirmation can say what
				// was deleted, also when only --cert-id was given.
				cert, err := client.GetCertificate(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				// The server refuses to delete a certificate in use whatever
				// the answer, so nobody is asked first to be refused after.
				if c.asks(cmd) && !referenced(cmd.Context(), client, o.Account, o.Project, id) {
					if err := c.confirm(cmd, fmt.Sprintf("Delete certificate %s (%s) in %s/%s?", cert.GetName(), id, o.Account, o.Project)); err != nil {
						return err
					}
				}
				resp, err := client.DeleteCertificate(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				if g.Output == OutputJSON {
					return writeJSON(cmd.OutOrStdout(), resp)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted certificate %s (%s)\n", cert.GetName(), id)
				return err
			})
		},
	}
	o.AddFlags(cmd.Flags())
	c.AddFlags(cmd.Flags())
	return cmd
}

// referenced reports whether deployments are known to reference the
// certificate; when that cannot be told, it reports false.
func referenced(ctx context.Context, client *Client, account, project, id string) bool {
	refs, err := certificateReferences(ctx, client, account, project, id)
	return err == nil && len(refs.GetReferences()) > 0
}
