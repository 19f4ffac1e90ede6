package cli

import (
	"errors"

	"github.com/spf13/pflag"
)

// Environment variables that keep secrets off the command line, where other
// users of the machine could read them in the process list.
const (
	EnvKeyPassphrase = "CERTBIND_KEY_PASSPHRASE"
	EnvP12Password   = "CERTBIND_P12_PASSWORD"
)

// materialOptions are the flags that give certificate material: PEM files
// (--cert, --key), a PKCS#12 file (--p12) or a CA bundle (--ca --cert). Both
// "create" and "rotate" take them, with the same rules.
type materialOptions struct {
	CertFile      string
	KeyFile       string
	KeyPassphrase string
	P12File       string
	P12Password   string
	CA            bool

	flags *pflag.FlagSet // to tell flags given on the command line from env defaults
}

// AddFlags registers the material flags; caUsage is the help of --ca, which
// means something slightly different to each command.
func (o *materialOptions) AddFlags(fs *pflag.FlagSet, getenv func(string) string, caUsage string) {
	o.flags = fs
	fs.StringVar(&o.CertFile, "cert", "", "PEM file with the client certificate, leaf first, then intermediates (with --ca: the CA bundle)")
	fs.StringVar(&o.KeyFile, "key", "", "PEM file with the private key of the certificate (PKCS#8, PKCS#1 or SEC1)")
	fs.StringVar(&o.KeyPassphrase, "key-passphrase", getenv(EnvKeyPassphrase), "passphrase of an encrypted --key (env "+EnvKeyPassphrase+", which keeps it out of the process list)")
	fs.StringVar(&o.P12File, "p12", "", "PKCS#12 file with the certificate and key, instead of --cert and --key")
	fs.StringVar(&o.P12Password, "p12-password", getenv(EnvP12Password), "password of the --p12 file (env "+EnvP12Password+")")
	fs.BoolVar(&o.CA, "ca", false, caUsage)
	fs.Lookup("key-passphrase").DefValue = ""
	fs.Lookup("p12-password").DefValue = ""
}

func (o *materialOptions) given(flag string) bool { return o.flags.Changed(flag) }

// Validate checks that the flags name one complete kind of material and that
// every file exists, without reading the files or touching the network.
func (o *materialOptions) Validate() error {
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
func (o *materialOptions) files() []inputFile {
	var files []inputFile
	for _, f := range []inputFile{{"cert", o.CertFile}, {"key", o.KeyFile}, {"p12", o.P12File}} {
		if f.path != "" {
			files = append(files, f)
		}
	}
	return files
}

// uploadMaterial is certificate material as the API takes it, in the fields
// that CreateCertificateRequest and RotateCertificateRequest share.
type uploadMaterial struct {
	CertificatePEM       string
	PrivateKeyPEM        string
	PrivateKeyPassphrase string
	PKCS12               []byte
	PKCS12Password       string
}

// read reads the files the validated flags name. A PEM file that turns out
// to be binary is refused with the command that converts it.
func (o *materialOptions) read() (*uploadMaterial, error) {
	out := &uploadMaterial{}
	for _, f := range o.files() {
		data, err := readInputFile(f.flag, f.path)
		if err != nil {
			return nil, err
		}
		switch f.flag {
		case "cert":
			if out.CertificatePEM, err = pemText(f, data); err != nil {
				return nil, err
			}
		case "key":
			if out.PrivateKeyPEM, err = pemText(f, data); err != nil {
				return nil, err
			}
			out.PrivateKeyPassphrase = o.KeyPassphrase
		case "p12":
			out.PKCS12 = data
			out.PKCS12Password = o.P12Password
		}
	}
	return out, nil
}
