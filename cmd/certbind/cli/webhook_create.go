package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type webhookCreateOptions struct {
	Account string
	Name    string
	URL     string
	Events  []string
}

// AddFlags registers the flags of "webhook create".
func (o *webhookCreateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "account whose certificates the webhook hears of (required; or "+EnvAccount+" or a profile), e.g. acme")
	fs.StringVar(&o.Name, "name", "", "name of the webhook in its account (required), e.g. expiryAlerts")
	fs.StringVar(&o.URL, "url", "", "where deliveries are POSTed (required): an https:// URL (certbind dev also accepts http:// to loopback)")
	fs.StringSliceVar(&o.Events, "event", nil, "send only this event type (repeatable; default all): certificate.expiring, certificate.expired, certificate.created, certificate.rotated, certificate.disabled, certificate.enabled, certificate.deleted")
}

// Validate checks that the required flags are given; the server checks
// their values.
func (o *webhookCreateOptions) Validate() error {
	switch {
	case o.Account == "":
		return usageErrorf("--account is required (e.g. --account acme)")
	case o.Name == "":
		return usageErrorf("--name is required (e.g. --name expiryAlerts)")
	case o.URL == "":
		return usageErrorf("--url is required (e.g. --url https://hooks.example.com/certbind)")
	}
	return nil
}

func newWebhookCreateCmd(g *GlobalOptions) *cobra.Command {
	o := &webhookCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --account A --name N --url URL [--event TYPE]...",
		Short: "Register a webhook and print its signing secret, once",
		Long: `Registers a webhook and prints its signing secret. The secret is shown only
now: keep it where the receiver can read it. Every delivery carries the headers
Certbind-Webhook-Id, Certbind-Webhook-Event, Certbind-Webhook-Timestamp and
Certbind-Webhook-Signature ("v1=" and the hex HMAC-SHA256, keyed with the
secret, of the timestamp, a full stop and the body). --output json prints
{"webhook": {...}, "secret": "whsec_..."}.`,
		Example: `  certbind webhook create --account acme --name expiryAlerts --url https://hooks.example.com/certbind \
      --event certificate.expiring --event certificate.expired`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			resp, err := client.CreateWebhook(cmd.Context(), &certmgrv1.CreateWebhookRequest{Account: o.Account, Name: o.Name, Url: o.URL, Events: o.Events})
			if err != nil {
				return err
			}
			if g.Output == OutputJSON {
				return writeJSON(cmd.OutOrStdout(), resp)
			}
			w := cmd.OutOrStdout()
			if err := writeWebhooks(w, []*certmgrv1.Webhook{resp.GetWebhook()}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "\nsecret: %s\nThis secret signs every delivery and is not shown again: keep it now.\n", resp.GetSecret())
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// writeWebhooks prints webhooks as a table.
func writeWebhooks(w io.Writer, hooks []*certmgrv1.Webhook) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tURL\tEVENTS\tCREATED")
	for _, h := range hooks {
		events := "all"
		if len(h.GetEvents()) > 0 {
			events = strings.Join(h.GetEvents(), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.GetName(), h.GetId(), h.GetUrl(), events, formatTime(h.GetCreateTime()))
	}
	return tw.Flush()
}
