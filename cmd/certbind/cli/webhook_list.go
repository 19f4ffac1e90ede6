package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type webhookListOptions struct {
	Account string
}

// AddFlags registers the flags of "webhook list".
func (o *webhookListOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "account whose webhooks to list (required; or "+EnvAccount+" or a profile), e.g. acme")
}

func newWebhookListCmd(g *GlobalOptions) *cobra.Command {
	o := &webhookListOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"ls"},
		Use:     "list --account A",
		Short:   "List an account's webhooks (never their secrets)",
		Long: `Lists an account's webhooks by name: id, URL, the event types each is sent
("all" when no --event was given) and when it was created. A secret is shown
only by create. --output json prints a JSON array of webhooks.`,
		Example: `  certbind webhook list --account acme`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Account == "" {
				return usageError(usageErrorf("--account is required (e.g. --account acme)"))
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			resp, err := client.ListWebhooks(cmd.Context(), o.Account)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.Output == OutputJSON {
				return writeJSONList(w, resp.GetWebhooks())
			}
			if len(resp.GetWebhooks()) == 0 {
				_, err := fmt.Fprintln(w, "no webhooks in account "+o.Account)
				return err
			}
			return writeWebhooks(w, resp.GetWebhooks())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
