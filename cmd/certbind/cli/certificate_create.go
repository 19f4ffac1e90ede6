package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/validate"
)

// Environment variables that keep secrets off the command line, where other
// users of the machine could read them in the process list.
const (
	EnvKeyPassphrase = "CERTBIND_KEY_PASSPHRASE"
	EnvP12Password   = "CERTBIND_P12_PASSWORD"
)

type certificateCreateOptions struct {
	projectOptions
	Name             string
	EnvironmentTypes []string
	CertFile         string
	KeyFile          string
	KeyPassphrase    string
	P12File          string
	P12Password      string
	CA               bool

	flags *pflag.FlagSet // to tell flags given on the command line from env defaults
}

// AddFlags registers the flags of "mtls-certificate create".
func (o *certificateCreateOptions) AddFlags(fs *pflag.FlagSet, getenv func(string) string) {
	o.flags = fs
	o.projectOptions.AddFlags(fs)
	fs.StringVar(&o.Name, "name", "", "name deployments use to refer to the certificate (required): a JavaScript identifier such as myBackendCert")
	fs.StringSliceVar(&o.EnvironmentTypes, "environment-type", nil, "environment type that may use the certificate: development, preview or production (required; repeat or separate with commas)")
	fs.StringVar(&o.CertFile, "cert", "", "PEM file with the client certificate, leaf first, then intermediates (with --ca: the CA bundle)")
	fs.StringVar(&o.KeyFile, "key", "", "PEM file with the private key of the certificate (PKCS#8, PKCS#1 or SEC1)")
	fs.StringVar(&o.KeyPassphrase, "key-passphrase", getenv(EnvKeyPassphrase), "passphrase of an encrypted --key (env "+EnvKeyPassphrase+", which keeps it out of the process list)")
	fs.StringVar(&o.P12File, "p12", "", "PKCS#12 file with the certificate and key, instead of --cert and --key")
	fs.StringVar(&o.P12Password, "p12-password", getenv(EnvP12Password), "password of the --p12 file (env "+EnvP12Password+")")
	fs.BoolVar(&o.CA, "ca", false, "upload the --cert file as CA certificates that verify backends (no key)")
	fs.Lookup("key-passphrase").DefValue = ""
	fs.Lookup("p12-password").DefValue = ""
}

func (o *certificateCreateOptions) given(flag string) bool { return o.flags.Changed(flag) }

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

	switch {
	case o.P12File != "" && (o.CertFile != "" || o.KeyFile != ""):
		return errors.New("--p12 replaces --cert and --key: give either --p12 or --cert with --key")
	case o.CA && o.KeyFile != "":
		return errors.New("--ca uploads CA certificates without a key: drop --key")
	case o.CA && o.P12File != "":
		return errors.New("--ca takes the CA bundle in --cert, not --p12")
	case o.CA && o.CertFile == "":
		return errors.New("--ca needs the CA bundle in --cert (e.g. --ca --cert ca.pem)")
	case o.P12File == "" && !o.CA && o.CertFile == "" && o.KeyFile == "":
		return errors.New("give the certificate with --cert and --key (or --p12, or --ca --cert for a CA bundle)")
	case o.P12File == "" && !o.CA && o.CertFile == "":
		return errors.New("--cert is required with --key (the PEM file with the certificate chain)")
	case o.P12File == "" && !o.CA && o.KeyFile == "":
		return errors.New("--key is required with --cert (the PEM file with the private key; use --ca to upload CA certificates)")
	case o.given("key-passphrase") && o.KeyFile == "":
		return errors.New("--key-passphrase applies only to --key")
	case o.given("p12-password") && o.P12File == "":
		return errors.New("--p12-password applies only to --p12")
	}

	for _, f := range o.files() {
		if err := checkInputFile(f.flag, f.path); err != nil {
			return err
		}
	}
	return nil
}

type inputFile struct{ flag, path string }

// files lists the files the validated flags name.
func (o *certificateCreateOptions) files() []inputFile {
	var files []inputFile
	for _, f := range []inputFile{{"cert", o.CertFile}, {"key", o.KeyFile}, {"p12", o.P12File}} {
		if f.path != "" {
			files = append(files, f)
		}
	}
	return files
}

// request reads the files and builds the upload.
func (o *certificateCreateOptions) request() (*certmgrv1.CreateCertificateRequest, error) {
	req := &certmgrv1.CreateCertificateRequest{
		Account:          o.Account,
		Project:          o.Project,
		Name:             o.Name,
		EnvironmentTypes: o.EnvironmentTypes,
		Ca:               o.CA,
	}
	for _, f := range o.files() {
		data, err := readInputFile(f.flag, f.path)
		if err != nil {
			return nil, err
		}
		switch f.flag {
		case "cert":
			if req.CertificatePem, err = pemText(f, data); err != nil {
				return nil, err
			}
		case "key":
			if req.PrivateKeyPem, err = pemText(f, data); err != nil {
				return nil, err
			}
			req.PrivateKeyPassphrase = o.KeyPassphrase
		case "p12":
			req.Pkcs12 = data
			req.Pkcs12Password = o.P12Password
		}
	}
	return req, nil
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
				return err
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
