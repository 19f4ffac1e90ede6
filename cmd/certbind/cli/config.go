package cli

import "github.com/spf13/cobra"

func newConfigCmd(g *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective defaults and keep profiles of them",
		Long: `Every command that talks to the API takes its URL, its key and, where it needs
them, --account and --project from the first of:

  1. the flag (--api-url, --api-key, --account, --project),
  2. the environment (CERTBIND_API_URL, CERTBIND_API_KEY, CERTBIND_ACCOUNT,
     CERTBIND_PROJECT),
  3. the profile: the one named by --profile or CERTBIND_PROFILE, else the
     config file's default-profile,
  4. the built-in default (only the URL has one: ` + DefaultAPIURL + `).

CERTBIND_ACCOUNT, CERTBIND_PROJECT and the profile stand in for --account
and --project where a command requires them, never for an optional filter.

Profiles live in one JSON file, certbind/config.json under the user's config
directory ($XDG_CONFIG_HOME or ~/.config on Linux, ~/Library/Application
Support on macOS; CERTBIND_CONFIG names another path). A profile has any of
api-url, account, project, and api-key or api-key-command: a command, run
with sh -c when a command needs the key, that prints it (so the key can stay
in a password manager). The file may hold a key, so it is written with mode
0600, and one that group or others may read is refused until it is chmod 600.

"certbind config view" shows each effective value and where it came from
(never the key itself); "certbind config set-profile" writes a profile.`,
		Example: `  # A profile for acme/shop whose key comes from a password manager, as default:
  certbind config set-profile acme --account acme --project shop \
      --api-url https://certbind.example.com --api-key-command 'pass show certbind/acme' --default
  certbind mtls-certificate list

  # Another project of the same account, for one command or one shell:
  certbind mtls-certificate list --project billing
  export CERTBIND_PROJECT=billing

  certbind config view`,
		Args: cobra.ArbitraryArgs,
		RunE: runGroup,
	}
	cmd.AddCommand(newConfigViewCmd(g, getenv), offline(newConfigSetProfileCmd(getenv)))
	return cmd
}
