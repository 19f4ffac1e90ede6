package cli

import (
	"github.com/spf13/cobra"
)

func newCertificateDescribeCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "describe --account A --project P (--cert-id ID | --name NAME)",
		Short: "Show one certificate in detail",
		Long: `Shows everything the API knows about one certificate: its state, the
environment types it is allowed in, the subject, issuer, serial number and
SHA-256 fingerprint of the leaf, its key algorithm, validity and how many
days remain. It never shows the private key.

The certificate is given by --cert-id, or by --name, which is looked up in
the project first.`,
		Example: `  certbind mtls-certificate describe --account acme --project shop --name myBackendCert

  # The fingerprint only:
  certbind mtls-certificate describe --account acme --project shop --name myBackendCert \
      --output json | jq -r .fingerprintSha256`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			id, err := o.resolve(cmd.Context(), client)
			if err != nil {
				return err
			}
			cert, err := client.GetCertificate(cmd.Context(), o.Account, o.Project, id)
			if err != nil {
				return err
			}
			return writeCertificate(cmd.OutOrStdout(), g.Output, cert)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
