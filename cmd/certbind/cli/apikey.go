package cli

import (
	"github.com/spf13/cobra"
)

func newAPIKeyCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "api-key",
		Aliases: []string{"api-keys"},
		Short:   "Issue, list and revoke API keys scoped to one account",
		Long: `API keys authenticate every request to certbind. The admin key (the one
"certbind dev" prints) issues keys scoped to a single account; an account key
sees and changes nothing outside its account. Keys may expire (--expires-in),
and a revoked key stops working everywhere within a second.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind api-key create --account acme --name ci --expires-in 90d
  certbind api-key list --account acme
  certbind api-key revoke --id key_abcd1234`,
		RunE: runGroup,
	}
	cmd.AddCommand(newAPIKeyCreateCmd(g), newAPIKeyListCmd(g), newAPIKeyRevokeCmd(g))
	return cmd
}
