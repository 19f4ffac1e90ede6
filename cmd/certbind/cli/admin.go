package cli

import (
	"github.com/spf13/cobra"
)

func newAdminCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a running certbind (admin key only)",
		Long: `Commands that operate the running services as a whole. Each needs the admin
key.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin rotate-master-key`,
		RunE:    runGroup,
	}
	cmd.AddCommand(newAdminRotateMasterKeyCmd(g))
	return cmd
}
