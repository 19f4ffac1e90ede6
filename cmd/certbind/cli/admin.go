package cli

import "github.com/spf13/cobra"

func newAdminCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a certbind suite (admin key)",
		Long: `Operations on the suite as a whole. Commands that talk to a running suite
need the admin key.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin backup --out /var/backups/certbind/today
  certbind admin restore --from /var/backups/certbind/today --data-dir ./.certbind --force`,
		RunE: runGroup,
	}
	cmd.AddCommand(newAdminBackupCmd(g), newAdminRestoreCmd())
	return cmd
}
