package cli

import "github.com/spf13/cobra"

func newAuditCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read an account's audit trail",
		Long: `certmgr keeps one audit entry per write to an account's certificates and API
keys, successful or refused: when, which API key (its id and role, never the
key), what, on which resource, and the result. An account key reads its own
account's trail; the admin key any account's.`,
		Example: `  certbind audit list --account acme --since 24h`,
		RunE:    runGroup,
	}
	cmd.AddCommand(newAuditListCmd(g))
	return cmd
}
