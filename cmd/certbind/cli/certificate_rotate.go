package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type certificateRotateOptions struct {
	targetOptions
	materialOptions
}

// AddFlags registers the flags of "mtls-certificate rotate".
func (o *certificateRotateOptions) AddFlags(fs *pflag.FlagSet, getenv func(string) string) {
	o.targetOptions.AddFlags(fs)
	o.materialOptions.AddFlags(fs, getenv, "the certificate is a CA certificate: --cert holds its new CA bundle (no key)")
}

// Validate checks the target and the material flags, without touching the
// files or the network.
func (o *certificateRotateOptions) Validate() error {
	if err := o.targetOptions.Validate(); err != nil {
		return err
	}
	return o.materialOptions.Validate()
}

func newCertificateRotateCmd(g *GlobalOptions, getenv func(string) string) *cobra.Command {
	o := &certificateRotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate (NAME | ID | --name NAME | --cert-id ID) --account A --project P (--cert F --key F | --p12 F | --ca --cert F)",
		Short: "Replace a certificate's material in place, as a new version",
		Long: `Replaces the certificate and private key behind a name with new ones, for
example before the old certificate expires. The certificate keeps its id,
name, state and environment types and gets the next version number, so every
deployment that refers to it, directly or through a variable, keeps doing so,
and edges switch to the new version as soon as it is stored, without a
redeploy or a restart.

The new material is checked exactly like an upload with "create" (for a
client certificate: valid now, allowed for client authentication, and the key
must belong to it). A client certificate takes a new certificate and key
(--cert and --key, or --p12); a CA certificate (uploaded with --ca) takes a
new CA bundle with --ca --cert and no key. The kind never changes. A refused
rotation changes nothing, and a disabled certificate stays disabled.

Give the passphrase of an encrypted key in CERTBIND_KEY_PASSPHRASE rather than
with --key-passphrase, which other users can see in the process list.

Prints the certificate with its new version, subject and fingerprint.`,
		Example: `  # Replace myBackendCert with a renewed certificate; deployments that use
  # the name pick it up without a redeploy:
  certbind mtls-certificate rotate --account acme --project shop --name myBackendCert \
      --cert renewed.pem --key renewed-key.pem

  # The same from a PKCS#12 bundle, password from the environment:
  export CERTBIND_P12_PASSWORD=...
  certbind mtls-certificate rotate --account acme --project shop --cert-id crt_... --p12 renewed.p12

  # Replace the CA bundle that verifies a backend:
  certbind mtls-certificate rotate --account acme --project shop --name backendCa \
      --ca --cert backend-ca-2025.pem

  # Check that the new version is in place:
  certbind mtls-certificate describe --account acme --project shop --name myBackendCert`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.fromArgs(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			// The files are read before any request, so a bad file costs
			// no round trip.
			mat, err := o.read()
			if err != nil {
				return err
			}
			id, err := o.resolve(cmd.Context(), client)
			if err != nil {
				return err
			}
			cert, err := client.RotateCertificate(cmd.Context(), &certmgrv1.RotateCertificateRequest{
				Account:              o.Account,
				Project:              o.Project,
				Id:                   id,
				CertificatePem:       mat.CertificatePEM,
				PrivateKeyPem:        mat.PrivateKeyPEM,
				PrivateKeyPassphrase: mat.PrivateKeyPassphrase,
				Pkcs12:               mat.PKCS12,
				Pkcs12Password:       mat.PKCS12Password,
			})
			if err != nil {
				return err
			}
			return writeCertificate(cmd.OutOrStdout(), g.Output, cert)
		},
	}
	o.AddFlags(cmd.Flags(), getenv)
	return cmd
}
