package cli

import (
	"github.com/spf13/cobra"
)

func newCertificateEnableCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "enable --account A --project P (--cert-id ID | --name NAME)",
		Short: "Let deployments use a disabled certificate again",
		Long: `Enables a disabled certificate: new deployments may reference it again. It
reverses "disable".

Prints the certificate, now in state "active".`,
		Example: `  certbind mtls-certificate enable --account acme --project shop --name myBackendCert`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onTarget(cmd.Context(), g, o, func(client *Client, id string) error {
				cert, err := client.EnableCertificate(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				return writeCertificate(cmd.OutOrStdout(), g.Output, cert)
			})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
