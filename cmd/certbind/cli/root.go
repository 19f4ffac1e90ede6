// Package cli implements the certbind command line: one cobra command per
// file, each with an options struct whose AddFlags method registers its flags.
// Commands talk to the REST facade through Client and print either a
// human-readable table or protojson.
package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/tracing"
)

// Defaults and environment variables of the global flags.
const (
	DefaultAPIURL  = "http://127.0.0.1:8080"
	DefaultTimeout = 30 * time.Second

	EnvAPIURL = "CERTBIND_API_URL"
	EnvAPIKey = "CERTBIND_API_KEY"
)

// GlobalOptions holds the flags every command inherits. The environment is
// read when the flags are registered, so the values are final once cobra has
// parsed the command line (a flag given there beats the environment), and
// commands that define their own hooks, such as dev, still see them.
type GlobalOptions struct {
	// APIURL is the base URL of the REST facade.
	APIURL string
	// APIKey is sent as a bearer token; it may be empty until a command needs it.
	APIKey string
	// Output is how results are printed: OutputTable or OutputJSON.
	Output OutputFormat
	// Timeout bounds each HTTP request.
	Timeout time.Duration
	// Profile names the profile of the config file whose defaults apply.
	Profile string

	// Trace are the OTLP exporter flags: certbind dev's suite and the
	// commands that call the API trace when they name a collector.
	Trace tracing.Flags
	// tracing is the running command's, when on (see traceCommands).
	tracing *tracing.Tracing

	// keyCommand, when APIKey is empty, prints the key: the profile's
	// api-key-command, run by NewClient only when a command needs the key.
	keyCommand string
}

// AddFlags registers the global flags on fs, taking unset values from getenv.
func (o *GlobalOptions) AddFlags(fs *pflag.FlagSet, getenv func(string) string) {
	o.Output = OutputTable
	fs.StringVar(&o.APIURL, "api-url", envOr(getenv, EnvAPIURL, DefaultAPIURL),
		"base URL of the certbind REST API (env "+EnvAPIURL+")")
	fs.StringVar(&o.APIKey, "api-key", getenv(EnvAPIKey),
		"API key sent as a bearer token (env "+EnvAPIKey+")")
	fs.Var(&o.Output, "output", "output format: table or json")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "how long to wait for each API request")
	o.Trace.AddFlags(fs)
	fs.StringVar(&o.Profile, "profile", "", "profile of the config file whose defaults apply (env "+EnvProfile+"; see \"certbind config --help\")")

	// Help shows the built-in defaults, never the environment's values: an
	// API key must not end up in a terminal scrollback or a pasted help text.
	fs.Lookup("api-url").DefValue = DefaultAPIURL
	fs.Lookup("api-key").DefValue = ""
}

func envOr(getenv func(string) string, name, fallback string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return fallback
}

// NewRootCmd returns the certbind command tree, configured from the process
// environment. main runs it with ExecuteContext and prints the error it
// returns.
func NewRootCmd() *cobra.Command {
	return newRootCmd(os.Getenv)
}

func newRootCmd(getenv func(string) string) *cobra.Command {
	g := &GlobalOptions{}
	cmd := &cobra.Command{
		Use:   "certbind",
		Short: "Manage the mTLS certificates your gateway presents to its backends",
		Long: `certbind uploads client certificates and keys once, under a name, so that
gateway deployments can present them to backends over mutual TLS. The edge
picks up new, rotated and disabled certificates without a restart.

Commands talk to the certbind REST API at --api-url with the key in --api-key
(or CERTBIND_API_URL and CERTBIND_API_KEY). "certbind dev" runs the whole
suite on this machine and prints a key to use. CERTBIND_ACCOUNT and
CERTBIND_PROJECT stand in for --account and --project, and a profile in the
config file can hold all four ("certbind config --help"): a flag beats the
environment, which beats the profile.

A certificate or deployment can be named by an argument
("certbind mtls-certificate describe myBackendCert",
"certbind deployment describe production") or by its flags.

` + exitCodesHelp,
		Example: `  # Run the suite locally, then use the key it prints:
  certbind dev
  export CERTBIND_API_KEY=...

  # Upload a certificate and list what the project has:
  certbind mtls-certificate create --cert cert.pem --key key.pem --name myBackendCert \
      --account acme --project shop --environment-type development --environment-type production
  certbind mtls-certificate list --account acme --project shop

  # Deploy a gateway config whose routes present it, and see where it runs:
  certbind deploy --account acme --project shop --environment production \
      --environment-type production --config gateway.json --var BACKEND_MTLS_CERT=myBackendCert
  certbind deployment list --account acme --project shop`,
		// Unknown commands reach runGroup, which suggests the close ones
		// and fails with the usage status like every other level.
		Args:          cobra.ArbitraryArgs,
		RunE:          runGroup,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.AddFlags(cmd.PersistentFlags(), getenv)
	// Before any command runs, the defaults (flag, else environment, else
	// profile) are worked out, and every missing required flag reported.
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if c.Name() == cobra.ShellCompRequestCmd || c.Name() == cobra.ShellCompNoDescRequestCmd {
			prepareCompletion(c.Root(), getenv, args)
			return nil
		}
		if !isOffline(c) {
			s, err := resolveSettings(c, getenv)
			if err != nil {
				return err
			}
			if err := applySettings(c, g, s); err != nil {
				return err
			}
		}
		return checkRequired(c)
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(fmt.Errorf("%w (see %q)", err, c.CommandPath()+" --help"))
	})

	cmd.AddCommand(
		newCertificateCmd(g, getenv),
		newDeployCmd(g),
		newDeploymentCmd(g),
		newAPIKeyCmd(g),
		newAdminCmd(g),
		newAuditCmd(g),
		newWebhookCmd(g),
	)

	cmd.AddCommand(offline(newDevCmd(g)), offline(newVersionCmd(g)), newConfigCmd(g, getenv))
	cmd.Version = readBuildInfo().line()
	cmd.SetVersionTemplate("{{.Version}}\n")
	markRequired(cmd)
	traceCommands(cmd, g)
	registerCompletions(cmd, getenv)

	return cmd
}

// offlineAnnotation marks a command that does not call the API, so neither
// the profiles nor the defaults concern it: "certbind dev" takes its admin
// key from CERTBIND_API_KEY alone, and a broken config file stops no
// "certbind version".
const offlineAnnotation = "certbind/offline"

func offline(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[offlineAnnotation] = "true"
	return cmd
}

func isOffline(cmd *cobra.Command) bool {
	if cmd.HasSubCommands() {
		return true // a group only shows help or refuses an unknown subcommand
	}
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[offlineAnnotation] == "true" || c.Name() == "completion" && c.HasParent() && !c.Parent().HasParent() {
			return true
		}
	}
	return false
}

// requireNoArgs rejects positional arguments; every input is a named flag.
func requireNoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Errorf("unexpected argument %q: %s takes flags only (see %q)",
			args[0], cmd.CommandPath(), cmd.CommandPath()+" --help"))
	}
	return nil
}
