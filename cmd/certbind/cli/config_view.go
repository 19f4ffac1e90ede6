package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newConfigViewCmd(g *GlobalOptions, getenv func(string) string) *cobra.Command {
	var account, project string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Show each effective default and where it came from",
		Long: `Shows the profile in use, the config file, and the API URL, API key, account
and project that commands would use here, each with where it came from: a
flag, the environment, the profile or the built-in default. The API key is
never shown, only whether one is set and from where; an api-key-command is
not run.`,
		Example: `  certbind config view
  CERTBIND_PROJECT=billing certbind config view --profile acme
  certbind config view --output json | jq -r .account.value`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := resolveSettings(cmd, getenv)
			if err != nil {
				return err
			}
			return writeSettings(cmd.OutOrStdout(), g.Output, s)
		},
	}
	// The flags are here only to show how they take precedence.
	cmd.Flags().StringVar(&account, "account", "", "account, as a command given --account would use it")
	cmd.Flags().StringVar(&project, "project", "", "project, as a command given --project would use it")
	return cmd
}

// settingsView is "config view --output json": every setting with its
// source, the key reduced to whether it is set.
type settingsView struct {
	ConfigFile string  `json:"configFile"`
	Profile    setting `json:"profile"`
	APIURL     setting `json:"apiUrl"`
	APIKey     struct {
		Set    bool   `json:"set"`
		Source string `json:"source"`
	} `json:"apiKey"`
	Account setting `json:"account"`
	Project setting `json:"project"`
}

func writeSettings(w io.Writer, format OutputFormat, s *settings) error {
	v := settingsView{ConfigFile: s.ConfigPath, Profile: s.Profile, APIURL: s.APIURL, Account: s.Account, Project: s.Project}
	v.APIKey.Set = s.APIKey.Value != "" || s.KeyCommand != ""
	v.APIKey.Source = s.APIKey.Source
	if v.Profile.Value == "" {
		v.Profile.Source = "none"
	}
	if format == OutputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	key := "(not set)"
	switch {
	case s.KeyCommand != "":
		key = "(printed by api-key-command, not run here)"
	case v.APIKey.Set:
		key = "(set, not shown)"
	}
	file := s.ConfigPath
	if s.Config == nil {
		file += " (does not exist)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	fmt.Fprintf(tw, "profile\t%s\t%s\n", orDash(v.Profile.Value), v.Profile.Source)
	fmt.Fprintf(tw, "api-url\t%s\t%s\n", v.APIURL.Value, v.APIURL.Source)
	fmt.Fprintf(tw, "api-key\t%s\t%s\n", key, v.APIKey.Source)
	fmt.Fprintf(tw, "account\t%s\t%s\n", orDash(v.Account.Value), v.Account.Source)
	fmt.Fprintf(tw, "project\t%s\t%s\n", orDash(v.Project.Value), v.Project.Source)
	fmt.Fprintf(tw, "config file\t%s\t\n", file)
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
