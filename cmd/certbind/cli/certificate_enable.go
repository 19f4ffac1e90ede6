package cli

import (
	"github.com/spf13/cobra"
)

func newCertificateEnableCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "enable (NAME | ID | --name NAME | --cert-id ID) --account A --project P",
		Short: "Let deployments use a disabled certificate again",
		Long: `Enables a disabled certificate: new deployments may reference it again. It
reverses "disable".

Prints the certificate, now in state "active".`,
		Example: `  certbind mtls-certificate enable --account acme --project shop --name myBackendCert`,
		Args:    oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
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
