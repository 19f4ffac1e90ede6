package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newWebhookDeliveriesCmd(g *GlobalOptions) *cobra.Command {
	o := &webhookRefOptions{}
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries --account A --name N [--limit 100]",
		Short: "List a webhook's deliveries, newest first",
		Long: `Lists what was sent to a webhook, newest first: the event, the certificate,
the state (pending, delivered or failed once its attempts are spent), the
attempts made, the receiver's last status and error, and an escaped excerpt
of its last response. --output json prints a JSON array.`,
		Example: `  certbind webhook deliveries --account acme --name expiryAlerts`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			if limit < 1 || limit > 1000 {
				return usageError(usageErrorf("--limit %d is not between 1 and 1000", limit))
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			resp, err := client.ListWebhookDeliveries(cmd.Context(), o.Account, o.Name, limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.Output == OutputJSON {
				return writeJSONList(w, resp.GetDeliveries())
			}
			if len(resp.GetDeliveries()) == 0 {
				_, err := fmt.Fprintln(w, "no deliveries to webhook "+o.Name)
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CREATED\tID\tEVENT\tCERTIFICATE\tSTATE\tATTEMPTS\tLAST STATUS\tLAST ERROR")
			for _, d := range resp.GetDeliveries() {
				st := "-"
				if d.GetLastStatusCode() != 0 {
					st = strconv.Itoa(int(d.GetLastStatusCode()))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", formatTime(d.GetCreateTime()), d.GetId(), d.GetEvent(),
					orNone(d.GetCertificateName()), d.GetState(), d.GetAttempts(), st, orNone(d.GetLastError()))
			}
			return tw.Flush()
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().IntVar(&limit, "limit", 100, "print at most this many deliveries (1 to 1000)")
	return cmd
}
