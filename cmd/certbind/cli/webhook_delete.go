package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type webhookRefOptions struct {
	Account string
	Name    string
}

// AddFlags registers the flags that name one webhook.
func (o *webhookRefOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "the webhook's account (required; or "+EnvAccount+" or a profile), e.g. acme")
	fs.StringVar(&o.Name, "name", "", "the webhook's name or id (required), as \"certbind webhook list\" shows it")
}

// Validate checks that a webhook is named.
func (o *webhookRefOptions) Validate() error {
	switch {
	case o.Account == "":
		return usageErrorf("--account is required (e.g. --account acme)")
	case o.Name == "":
		return usageErrorf("--name is required: the webhook's name or id (list them with `certbind webhook list`)")
	}
	return nil
}

func newWebhookDeleteCmd(g *GlobalOptions) *cobra.Command {
	o := &webhookRefOptions{}
	cmd := &cobra.Command{
		Use:   "delete --account A --name N",
		Short: "Delete a webhook; its deliveries not yet sent are dropped",
		Long: `Deletes a webhook, named by its name or id. Its deliveries that wait for an
attempt are dropped; nothing more is sent to it. The delete is kept in the
account's audit trail (webhook.delete).`,
		Example: `  certbind webhook delete --account acme --name expiryAlerts`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			if err := client.DeleteWebhook(cmd.Context(), o.Account, o.Name); err != nil {
				return err
			}
			if g.Output == OutputJSON {
				return writeJSON(cmd.OutOrStdout(), &certmgrv1.DeleteWebhookResponse{})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "webhook %s deleted from account %s\n", o.Name, o.Account)
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
