package cli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

type deployOptions struct {
	projectOptions
	Environment     string
	EnvironmentType string
	ConfigFile      string
	Vars            []string
	EnvFile         string
	DryRun          bool

	vars []variable // Vars, parsed by Validate
}

// AddFlags registers the flags of "deploy".
func (o *deployOptions) AddFlags(fs *pflag.FlagSet) {
	o.projectOptions.AddFlags(fs)
	deploymentAccountHelp(fs)
	fs.StringVar(&o.Environment, "environment", "", `name of the environment to deploy to (required), e.g. production or pr-42: 1 to 63 lowercase letters, digits or '-'`)
	fs.StringVar(&o.EnvironmentType, "environment-type", "", "type of the environment (required): development, preview or production; routes may only use certificates allowed in it")
	fs.StringVar(&o.ConfigFile, "config", "", "gateway config to deploy (required), e.g. gateway.json (JSON, at most 256 KiB)")
	// StringArray, not StringSlice: a value may contain commas.
	fs.StringArrayVar(&o.Vars, "var", nil, "variable K=V for $env(K) in the config (repeatable); overrides --env-file, and a later --var for the same K wins")
	fs.StringVar(&o.EnvFile, "env-file", "", "file of K=V lines (# comments allowed) with variables for $env(K); --var overrides it")
	fs.BoolVar(&o.DryRun, "dry-run", false, "make every check of a deploy and print what would be deployed and which certificates it would reference; records nothing")
}

// Validate checks every flag, without reading a file or touching the network.
func (o *deployOptions) Validate() error { return usageError(o.validate()) }

// validate is Validate; every error it returns is a mistake on the command
// line (exit status 2).
func (o *deployOptions) validate() error {
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	if err := checkEnvironmentName(o.Environment); err != nil {
		return err
	}
	if o.EnvironmentType == "" {
		return errors.New("--environment-type is required: give development, preview or production (certificates are allowed per environment type)")
	}
	types, err := validate.EnvironmentTypes([]string{o.EnvironmentType})
	if err != nil {
		return flagError("environment-type", err)
	}
	o.EnvironmentType = types[0]
	if o.ConfigFile == "" {
		return errors.New("--config is required: the gateway config to deploy (e.g. --config gateway.json)")
	}
	o.vars, err = parseVars(o.Vars)
	return err
}

// request reads the variables and the config, checks them together, and
// builds the deploy.
func (o *deployOptions) request() (*deploytrackerv1.DeployRequest, error) {
	vars, err := mergeVariables(o.EnvFile, o.vars)
	if err != nil {
		return nil, err
	}
	cfg, err := loadGatewayConfig(o.ConfigFile, vars)
	if err != nil {
		return nil, err
	}
	return &deploytrackerv1.DeployRequest{
		Account:         o.Account,
		Project:         o.Project,
		Environment:     o.Environment,
		EnvironmentType: o.EnvironmentType,
		Config:          cfg,
		Variables:       vars,
		ValidateOnly:    o.DryRun,
	}, nil
}

func newDeployCmd(g *GlobalOptions) *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy --account A --project P --environment NAME --environment-type T --config gateway.json [--var K=V]... [--env-file F] [--dry-run]",
		Short: "Deploy a gateway config to an environment",
		Long: `Deploys a gateway config (gateway.json) to a named environment of a project,
creating the environment's deployment or replacing it with a new generation.
It prints the deployment: its id, generation and URL (where the edge serves
it, followed by a route's path), the variables' names (never their values)
and the routes with the certificates they present. When a route takes GET
on a path without wildcards or parameters, it also prints a curl line for it.

A route can name a certificate directly ("mtlsCertificate": "myBackendCert")
or through a variable ("mtlsCertificate": "$env(BACKEND_MTLS_CERT)"), set per
environment with --var or in an --env-file. Variables are read from the
--env-file first; each --var overrides it, and a later --var for the same
name wins over an earlier one.

The flags, the variables and the config (its syntax, routes, handlers and
$env() references) are checked on this machine before anything is sent; the
server then checks them again, with the certificates: each must exist, be
active and be allowed in --environment-type. Nothing is deployed when a
check fails, and the error names the route and the option.

With --dry-run the server makes every one of those checks and records
nothing (no generation, no reference, nothing the edge sees); deploy prints
what would be deployed and the certificates it would reference. A deploy
made afterwards can still be refused if a certificate changes meanwhile.

While a deployment references a certificate, that certificate cannot be
deleted. To retire one: disable it, redeploy without it, then delete it.`,
		Example: `  # gateway.json routes /api/* with "mtlsCertificate": "$env(BACKEND_MTLS_CERT)":
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json --var BACKEND_MTLS_CERT=myBackendCert

  # Check a deploy without making it: what would be deployed, which certificates
  # it would reference; nothing is recorded:
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json --var BACKEND_MTLS_CERT=myBackendCert --dry-run

  # The same variables from a file, one overridden for a preview environment:
  certbind deploy --account acme --project shop --environment pr-42 \
      --environment-type preview --config gateway.json --env-file preview.env \
      --var BACKEND_MTLS_CERT=previewCert

  # Retire legacyCert: disable it, redeploy with a gateway.json that no longer
  # names it, then delete it:
  certbind mtls-certificate disable --account acme --project shop --name legacyCert
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json --var BACKEND_MTLS_CERT=myBackendCert
  certbind mtls-certificate delete --account acme --project shop --name legacyCert

  # Rotate myBackendCert: upload the new one under a new name, disable the old
  # one, deploy with the variable switched, verify, then delete the old one:
  certbind mtls-certificate create --cert new.pem --key new-key.pem --name myBackendCert2 \
      --account acme --project shop --environment-type production
  certbind mtls-certificate disable --account acme --project shop --name myBackendCert
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json --var BACKEND_MTLS_CERT=myBackendCert2
  # (verify through the edge: curl the URL that deploy prints, followed by a route's path)
  certbind mtls-certificate delete --account acme --project shop --name myBackendCert`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			req, err := o.request()
			if err != nil {
				return err
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			d, err := client.Deploy(cmd.Context(), req)
			if err != nil {
				return err
			}
			if o.DryRun {
				return writeDeployPlan(cmd.OutOrStdout(), g.Output, d)
			}
			return writeDeployment(cmd.OutOrStdout(), g.Output, d)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
