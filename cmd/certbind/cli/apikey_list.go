package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type apiKeyListOptions struct {
	Account string
}

// AddFlags registers the flags of "api-key list".
func (o *apiKeyListOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "only this account's keys (an account key sees only its own account's anyway)")
}

// Validate checks the account.
func (o *apiKeyListOptions) Validate() error {
	if o.Account != "" {
		if err := validate.Account(o.Account); err != nil {
			return flagError("account", err)
		}
	}
	return nil
}

func newAPIKeyListCmd(g *GlobalOptions) *cobra.Command {
	o := &apiKeyListOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"ls"},
		Use:     "list [--account A]",
		Short:   "List API keys (never their secrets)",
		Long: `Lists API keys: id, name, account, role, scope, state, when each was created,
when it expires and when it was last used. The secret of a key is never shown:
certbind keeps only its hash.

The admin key lists every account's keys, or one account's with --account. An
account key lists the keys of its own account. "Last used" is recorded about
once a minute, so it may lag by that much. --output json prints a JSON array.`,
		Example: `  certbind api-key list
  certbind api-key list --account acme

  # Keys that have not been used for a while are candidates for revocation:
  certbind api-key list --account acme --output json | jq -r '.[] | [.id, .name, .lastUsedAt] | @tsv'`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			keys, err := client.ListAPIKeys(cmd.Context(), o.Account)
			if err != nil {
				return err
			}
			empty := "no API keys"
			if o.Account != "" {
				empty += " in account " + o.Account
			}
			return writeAPIKeyList(cmd.OutOrStdout(), g.Output, keys, empty)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// writeAPIKeyList prints keys as a table, or as a JSON array of ApiKey
// objects.
func writeAPIKeyList(w io.Writer, format OutputFormat, keys []*certmgrv1.ApiKey, empty string) error {
	if format == OutputJSON {
		return writeJSONList(w, keys)
	}
	if len(keys) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tACCOUNT\tROLE\tSCOPE\tSTATE\tCREATED\tEXPIRES\tLAST USED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.GetId(), orNone(k.GetName()), k.GetAccount(), k.GetRole(),
			keyScope(k.GetProject(), k.GetEnvironmentTypes()), k.GetState(), formatTime(k.GetCreatedAt()), formatTime(k.GetExpiresAt()),
			formatTime(k.GetLastUsedAt()))
	}
	return tw.Flush()
}

// keyScope is the SCOPE cell: what part of its account a key is limited to.
func keyScope(project string, types []string) string {
	switch {
	case project == "" && len(types) == 0:
		return "whole account"
	case len(types) == 0:
		return "project " + project
	case project == "":
		return "types " + joinOrNone(types)
	}
	return "project " + project + ", types " + joinOrNone(types)
}

func writeAPIKey(w io.Writer, format OutputFormat, k *certmgrv1.ApiKey) error {
	if format == OutputJSON {
		return writeJSON(w, k)
	}
	_, err := fmt.Fprintf(w, "API key %s (%s, account %s, role %s) is %s since %s.\n", k.GetId(), orNone(k.GetName()), k.GetAccount(), k.GetRole(),
		k.GetState(), formatTime(k.GetRevokedAt()))
	return err
}
