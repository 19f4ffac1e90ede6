package cli

import (
	"github.com/spf13/cobra"
)

func newCertificateDisableCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "disable (NAME | ID | --name NAME | --cert-id ID) --account A --project P",
		Short: "Stop deployments from using a certificate",
		Long: `Disables a certificate: new deployments may no longer reference it.
Deployments that already use it keep it until they are redeployed, so
disabling fails no request. Disabling is the first step of retiring or
rotating a certificate: disable it, redeploy the deployments that referenced
it, then delete it. "enable" reverses it.

Prints the certificate, now in state "disabled".`,
		Example: `  certbind mtls-certificate disable --account acme --project shop --name myBackendCert`,
		Args:    oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				cert, err := client.DisableCertificate(cmd.Context(), o.Account, o.Project, id)
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
