package cli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type apiKeyRevokeOptions struct {
	ID string
}

// AddFlags registers the flags of "api-key revoke".
func (o *apiKeyRevokeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ID, "id", "", "id of the key to revoke (required), as \"certbind api-key list\" shows it, e.g. key_abcd1234")
}

// Validate checks that an id is given.
func (o *apiKeyRevokeOptions) Validate() error {
	if o.ID == "" {
		return errors.New("--id is required: find the key's id with `certbind api-key list`")
	}
	return nil
}

func newAPIKeyRevokeCmd(g *GlobalOptions) *cobra.Command {
	o := &apiKeyRevokeOptions{}
	cmd := &cobra.Command{
		Use:   "revoke --id ID",
		Short: "Revoke an API key at once, everywhere",
		Long: `Revokes an API key. Within a second every certbind service refuses it, and
the streams open with it (an edge's certificate and deployment streams) end
with "unauthenticated". Revocation cannot be undone: issue a new key instead.
Revoking a key that is already revoked changes nothing.

The admin key may revoke any key; an account key may revoke its own account's
keys (including itself), for example a leaked edge key, without waiting for
the admin.`,
		Example: `  certbind api-key list --account acme
  certbind api-key revoke --id key_abcd1234`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			k, err := client.RevokeAPIKey(cmd.Context(), o.ID)
			if err != nil {
				return err
			}
			return writeAPIKey(cmd.OutOrStdout(), g.Output, k)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
