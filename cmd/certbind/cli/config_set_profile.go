package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type configSetProfileOptions struct {
	Profile     Profile
	APIKeyStdin bool
	Default     bool
}

// AddFlags registers the flags of "config set-profile". --api-url and
// --api-key here are the profile's, in place of the global flags.
func (o *configSetProfileOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Profile.APIURL, "api-url", "", "the profile's API URL, e.g. https://certbind.example.com")
	fs.StringVar(&o.Profile.Account, "account", "", "the profile's account, e.g. acme")
	fs.StringVar(&o.Profile.Project, "project", "", "the profile's project, e.g. shop")
	fs.StringVar(&o.Profile.APIKey, "api-key", "", "the profile's API key (prefer --api-key-stdin or --api-key-command: a flag ends up in the shell's history)")
	fs.BoolVar(&o.APIKeyStdin, "api-key-stdin", false, "read the profile's API key from the first line of stdin")
	fs.StringVar(&o.Profile.APIKeyCommand, "api-key-command", "", "command that prints the API key when one is needed, run with sh -c, e.g. 'pass show certbind/acme'")
	fs.BoolVar(&o.Default, "default", false, "make this the default profile, used when neither --profile nor CERTBIND_PROFILE names one")
}

func newConfigSetProfileCmd(getenv func(string) string) *cobra.Command {
	o := &configSetProfileOptions{}
	cmd := &cobra.Command{
		Use:   "set-profile NAME [--api-url U] [--account A] [--project P] [--api-key-command CMD | --api-key-stdin] [--default]",
		Short: "Create a profile or change some of its values",
		Long: `Writes the profile NAME into the config file (created, with mode 0600, if it
does not exist). Only the values given change; give one as "" to remove it
from the profile. A key (--api-key-stdin or --api-key) replaces an
api-key-command and the other way round. Use the profile with --profile
NAME or CERTBIND_PROFILE=NAME, or make it the default with --default.

Prints the profile as stored, without the key.`,
		Example: `  certbind config set-profile acme --account acme --project shop --default
  certbind config set-profile acme --api-key-command 'op read op://ops/certbind-acme/key'
  printf '%s\n' "$KEY" | certbind config set-profile ci --api-url https://certbind.example.com --api-key-stdin
  certbind config set-profile acme --project ""   # the project no longer comes from the profile`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("give the profile's name: certbind config set-profile NAME ... (see %q)", cmd.CommandPath()+" --help")
			}
			return usageError(checkProfileName(args[0]))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, fs := args[0], cmd.Flags()
			if o.APIKeyStdin {
				if fs.Changed("api-key") {
					return usageErrorf("give the key with --api-key-stdin or --api-key, not both")
				}
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("--api-key-stdin: %w", err)
				}
				if o.Profile.APIKey = strings.TrimSpace(line); o.Profile.APIKey == "" {
					return usageErrorf("--api-key-stdin: stdin held no key")
				}
				fs.Lookup("api-key").Changed = true
			}
			path, err := configPath(getenv)
			if err != nil {
				return err
			}
			cf, err := loadConfigFile(path)
			if err != nil {
				return err
			}
			if cf == nil {
				cf = &ConfigFile{Profiles: map[string]Profile{}}
			}
			p := cf.Profiles[name]
			set := func(flag string, field *string, value string) {
				if fs.Changed(flag) {
					*field = value
				}
			}
			set("api-url", &p.APIURL, o.Profile.APIURL)
			set("account", &p.Account, o.Profile.Account)
			set("project", &p.Project, o.Profile.Project)
			if fs.Changed("api-key") && fs.Changed("api-key-command") {
				return usageErrorf("give a key or --api-key-command, not both")
			}
			if fs.Changed("api-key") {
				p.APIKey, p.APIKeyCommand = o.Profile.APIKey, ""
			}
			if fs.Changed("api-key-command") {
				p.APIKey, p.APIKeyCommand = "", o.Profile.APIKeyCommand
			}
			if err := p.check(); err != nil {
				return usageError(err)
			}
			cf.Profiles[name] = p
			if o.Default {
				cf.DefaultProfile = name
			}
			if err := writeConfigFile(path, cf); err != nil {
				return err
			}
			return writeProfile(cmd.OutOrStdout(), name, path, p, cf.DefaultProfile == name)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// writeProfile prints a stored profile, saying only whether it has a key.
func writeProfile(w io.Writer, name, path string, p Profile, isDefault bool) error {
	key := "-"
	switch {
	case p.APIKey != "":
		key = "(set, not shown)"
	case p.APIKeyCommand != "":
		key = "printed by: " + p.APIKeyCommand
	}
	def := ""
	if isDefault {
		def = " (the default profile)"
	}
	_, err := fmt.Fprintf(w, "profile %s%s in %s\n  api-url:  %s\n  account:  %s\n  project:  %s\n  api-key:  %s\n",
		name, def, path, orDash(p.APIURL), orDash(p.Account), orDash(p.Project), key)
	return err
}
