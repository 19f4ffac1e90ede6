package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type certificateUpdateOptions struct {
	targetOptions
	EnvironmentTypes []string
}

// AddFlags registers the flags of "mtls-certificate update".
func (o *certificateUpdateOptions) AddFlags(fs *pflag.FlagSet) {
	o.targetOptions.AddFlags(fs)
	fs.StringSliceVar(&o.EnvironmentTypes, "environment-type", nil, "environment type that may use the certificate: development, preview or production (required; repeat or separate with commas; replaces the current list)")
}

// Validate checks the target and the new environment types.
func (o *certificateUpdateOptions) Validate() error {
	if err := o.targetOptions.Validate(); err != nil {
		return err
	}
	types, err := environmentTypesFlag(o.EnvironmentTypes)
	if err != nil {
		return err
	}
	o.EnvironmentTypes = types
	return nil
}

func newCertificateUpdateCmd(g *GlobalOptions) *cobra.Command {
	o := &certificateUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update (NAME | ID | --name NAME | --cert-id ID) --account A --project P --environment-type T...",
		Short: "Change the environment types a certificate may be used in",
		Long: `Replaces the list of environment types (development, preview, production) in
which deployments may use the certificate. List every type the certificate
should keep: types left out are removed.

Prints the updated certificate.`,
		Example: `  # Allow myBackendCert in preview as well:
  certbind mtls-certificate update --account acme --project shop --name myBackendCert \
      --environment-type development,preview,production`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				cert, err := client.UpdateCertificate(cmd.Context(), &certmgrv1.UpdateCertificateRequest{
					Account:          o.Account,
					Project:          o.Project,
					Id:               id,
					EnvironmentTypes: o.EnvironmentTypes,
				})
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
