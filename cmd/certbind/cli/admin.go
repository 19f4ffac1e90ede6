package cli

import "github.com/spf13/cobra"

func newAdminCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a running certbind suite (admin key only)",
		Long: `Operations on the stores of a running suite. Every admin command needs the
admin key (the one "certbind dev" prints, or CERTBIND_API_KEY when it started).`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin verify`,
		RunE:    runGroup,
	}
	cmd.AddCommand(newAdminVerifyCmd(g), newAdminRotateMasterKeyCmd(g))
	return cmd
}
