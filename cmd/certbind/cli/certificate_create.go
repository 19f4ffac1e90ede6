package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type certificateCreateOptions struct {
	projectOptions
	materialOptions
	Name             string
	EnvironmentTypes []string
}

// AddFlags registers the flags of "mtls-certificate create".
func (o *certificateCreateOptions) AddFlags(fs *pflag.FlagSet, getenv func(string) string) {
	o.projectOptions.AddFlags(fs)
	fs.StringVar(&o.Name, "name", "", "name deployments use to refer to the certificate (required): a JavaScript identifier such as myBackendCert")
	fs.StringSliceVar(&o.EnvironmentTypes, "environment-type", nil, "environment type that may use the certificate: development, preview or production (required; repeat or separate with commas)")
	o.materialOptions.AddFlags(fs, getenv, "upload the --cert file as CA certificates that verify backends (no key)")
}

// Validate checks every flag, without touching the files or the network.
func (o *certificateCreateOptions) Validate() error {
	if o.Name == "" {
		return errors.New("--name is required (e.g. --name myBackendCert)")
	}
	if err := validate.CertificateName(o.Name); err != nil {
		return flagError("name", err)
	}
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	types, err := environmentTypesFlag(o.EnvironmentTypes)
	if err != nil {
		return err
	}
	o.EnvironmentTypes = types
	return o.materialOptions.Validate()
}

// request reads the files and builds the upload.
func (o *certificateCreateOptions) request() (*certmgrv1.CreateCertificateRequest, error) {
	mat, err := o.read()
	if err != nil {
		return nil, err
	}
	return &certmgrv1.CreateCertificateRequest{
		Account:              o.Account,
		Project:              o.Project,
		Name:                 o.Name,
		EnvironmentTypes:     o.EnvironmentTypes,
		Ca:                   o.CA,
		CertificatePem:       mat.CertificatePEM,
		PrivateKeyPem:        mat.PrivateKeyPEM,
		PrivateKeyPassphrase: mat.PrivateKeyPassphrase,
		Pkcs12:               mat.PKCS12,
		Pkcs12Password:       mat.PKCS12Password,
	}, nil
}

// environmentTypesFlag validates --environment-type values, given repeated
// or comma-separated, and returns them in canonical order without duplicates.
func environmentTypesFlag(values []string) ([]string, error) {
	var in []string
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			in = append(in, v)
		}
	}
	if len(in) == 0 {
		return nil, errors.New("--environment-type is required: give development, preview or production (repeat the flag or separate with commas)")
	}
	types, err := validate.EnvironmentTypes(in)
	if err != nil {
		return nil, flagError("environment-type", err)
	}
	return types, nil
}

func newCertificateCreateCmd(g *GlobalOptions, getenv func(string) string) *cobra.Command {
	o := &certificateCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --name NAME --account A --project P --environment-type T (--cert F --key F | --p12 F | --ca --cert F)",
		Short: "Upload a client certificate and its key under a name",
		Long: `Uploads a client certificate with its private key, from PEM files (--cert and
--key) or a PKCS#12 file (--p12), under a name that is unique in the project.
Deployments refer to the certificate by that name, and only in the
environment types listed with --environment-type.

With --ca, --cert holds CA certificates (no key) that a route's caCertificate
option uses to verify the backend.

The key is encrypted at rest and never returned by the API. Give the
passphrase of an encrypted key in CERTBIND_KEY_PASSPHRASE rather than with
--key-passphrase, which other users can see in the process list.

Every flag and file is checked before anything is sent; the certificate is
printed as it was stored.`,
		Example: `  # Upload a PEM certificate and key for development and production:
  certbind mtls-certificate create --cert cert.pem --key key.pem --name myBackendCert \
      --account acme --project shop --environment-type development --environment-type production

  # The same from a PKCS#12 bundle, password from the environment:
  export CERTBIND_P12_PASSWORD=...
  certbind mtls-certificate create --p12 backend.p12 --name myBackendCert \
      --account acme --project shop --environment-type development,production

  # Upload the CA that signed the backend's server certificate:
  certbind mtls-certificate create --ca --cert backend-ca.pem --name backendCa \
      --account acme --project shop --environment-type production`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			req, err := o.request()
			if err != nil {
				return err
			}
			cert, err := client.CreateCertificate(cmd.Context(), req)
			if err != nil {
				return err
			}
			return writeCertificate(cmd.OutOrStdout(), g.Output, cert)
		},
	}
	o.AddFlags(cmd.Flags(), getenv)
	return cmd
}
