package cli

import (
	"github.com/spf13/cobra"
)

func newAPIKeyCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "api-key",
		Aliases: []string{"api-keys"},
		Short:   "Issue API keys scoped to one account",
		Long: `API keys authenticate every request to certbind. The admin key (the one
"certbind dev" prints) issues keys scoped to a single account; an account key
sees and changes nothing outside its account.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind api-key create --account acme`,
		RunE:    runGroup,
	}
	cmd.AddCommand(newAPIKeyCreateCmd(g))
	return cmd
}
