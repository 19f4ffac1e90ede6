package cli

import "github.com/spf13/cobra"

func newWebhookCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Tell an HTTPS endpoint about an account's certificates",
		Long: `A webhook receives a signed JSON POST for each event of an account's
certificates: expiring (30, 14, 7 and 1 days before notAfter, once each),
expired, created, rotated, disabled, enabled and deleted. Deliveries carry
metadata only, never certificate material, and are retried with backoff when
the receiver fails. docs/webhooks.md shows how to check a signature.`,
		Example: `  certbind webhook create --account acme --name expiryAlerts --url https://hooks.example.com/certbind
  certbind webhook list --account acme
  certbind webhook deliveries --account acme --name expiryAlerts
  certbind webhook delete --account acme --name expiryAlerts`,
		RunE: runGroup,
	}
	cmd.AddCommand(newWebhookCreateCmd(g), newWebhookListCmd(g), newWebhookDeleteCmd(g), newWebhookDeliveriesCmd(g))
	return cmd
}
