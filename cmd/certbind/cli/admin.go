package cli

import "github.com/spf13/cobra"

func newAdminCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a certbind suite (admin key)",
		Long: `Operations on the suite as a whole. Commands that talk to a running suite
need the admin key.`,
		RunE: runGroup,
	}
	cmd.AddCommand(newAdminBackupCmd(g), newAdminRestoreCmd())
	return cmd
}
