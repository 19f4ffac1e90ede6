package cli

import "github.com/spf13/cobra"

func newAdminCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a certbind suite (admin key)",
		Long: `Operations on the suite as a whole: verify reads every record of both
stores and cross-checks them, backup copies both stores of a running suite,
restore puts a backup in place (offline, before the suite starts), and
rotate-master-key re-seals every stored private key under a new master key.
Every command that talks to a running suite needs the admin key (the one
"certbind dev" prints).`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin verify
  CERTBIND_API_KEY=ADMIN_KEY certbind admin backup --out /var/backups/certbind/today
  certbind admin restore --from /var/backups/certbind/today --data-dir ./.certbind --force
  CERTBIND_API_KEY=ADMIN_KEY certbind admin rotate-master-key`,
		RunE: runGroup,
	}
	cmd.AddCommand(newAdminVerifyCmd(g), newAdminBackupCmd(g), offline(newAdminRestoreCmd()), newAdminRotateMasterKeyCmd(g))
	return cmd
}
