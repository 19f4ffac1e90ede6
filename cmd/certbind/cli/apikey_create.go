package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type apiKeyCreateOptions struct {
	Account          string
	Role             string
	Project          string
	EnvironmentTypes []string
	Name             string
	ExpiresIn        string
}

// AddFlags registers the flags of "api-key create".
func (o *apiKeyCreateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "account the key is scoped to (required; or "+EnvAccount+" or a profile), e.g. acme")
	fs.StringVar(&o.Role, "role", "account", `what the key may do: "account" manages the account's certificates and deployments, "edge" receives its certificates on the distribution stream`)
	fs.StringVar(&o.Project, "project", "", "limit an edge key to this project")
	fs.StringSliceVar(&o.EnvironmentTypes, "environment-type", nil, "limit an edge key to these environment types (repeatable or comma-separated)")
	fs.StringVar(&o.Name, "name", "", "a label for people, shown by \"api-key list\", e.g. edge-eu-1 (at most 64 characters)")
	fs.StringVar(&o.ExpiresIn, "expires-in", "", `how long the key stays valid: a number and a unit, d (days), h, m or s, e.g. 90d or 12h (default: no expiry)`)
}

// Validate checks the account and the role.
func (o *apiKeyCreateOptions) Validate() error {
	if o.Account == "" {
		return errors.New("--account is required (e.g. --account acme)")
	}
	if err := validate.Account(o.Account); err != nil {
		return flagError("account", err)
	}
	switch o.Role {
	case "account", "edge":
	default:
		return fmt.Errorf("--role %q is not a role (use account or edge)", o.Role)
	}
	if (o.Project != "" || len(o.EnvironmentTypes) > 0) && o.Role != "edge" {
		return errors.New("--project and --environment-type limit edge keys only: add --role edge")
	}
	if o.Project != "" {
		if err := validate.Project(o.Project); err != nil {
			return flagError("project", err)
		}
	}
	if len(o.EnvironmentTypes) > 0 {
		types, err := environmentTypesFlag(o.EnvironmentTypes)
		if err != nil {
			return err
		}
		o.EnvironmentTypes = types
	}
	if err := validate.KeyName(o.Name); err != nil {
		return flagError("name", err)
	}
	if _, err := validate.ExpiresIn(o.ExpiresIn); err != nil {
		return flagError("expires-in", err)
	}
	return nil
}

func newAPIKeyCreateCmd(g *GlobalOptions) *cobra.Command {
	o := &apiKeyCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --account A [--role account|edge [--project P] [--environment-type T]...] [--name N] [--expires-in 90d]",
		Short: "Issue a new API key for an account (admin key only)",
		Long: `Issues an API key scoped to one account. Only the admin key may do this.

The key is printed once: certbind stores only its hash, so it cannot be shown
again. Keep it in a secret store, or export it as CERTBIND_API_KEY. With
--output json the answer is an object whose "key" field holds it.

An edge key (--role edge) receives the account's certificates, private keys
included, and deployments on the distribution streams, and nothing else. Limit
it further with --project and --environment-type: an edge serving only
production gets only production certificates.

--expires-in makes the key stop working after that long (e.g. 90d); it is
then refused like a revoked key, and its open streams end. Without it the key
works until it is revoked (certbind api-key revoke).`,
		Example: `  # As the admin, issue a key for the acme team:
  CERTBIND_API_KEY=ADMIN_KEY certbind api-key create --account acme

  # A key for edges that serve shop's production deployments only:
  certbind api-key create --account acme --role edge --project shop --environment-type production --name edge-eu-1

  # A key for a CI job that stops working in 90 days:
  certbind api-key create --account acme --name ci --expires-in 90d

  # Capture it in a script:
  export CERTBIND_API_KEY=$(certbind api-key create --account acme --output json | jq -r .key)`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			resp, err := client.CreateAPIKey(cmd.Context(), &certmgrv1.CreateApiKeyRequest{Account: o.Account, Role: o.Role,
				Project: o.Project, EnvironmentTypes: o.EnvironmentTypes, Name: o.Name, ExpiresIn: o.ExpiresIn})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.Output == OutputJSON {
				return writeJSON(w, resp)
			}
			expires := "it does not expire"
			if resp.GetExpiresAt() != nil {
				expires = "it expires at " + formatTime(resp.GetExpiresAt())
			}
			_, err = fmt.Fprintf(w, `API key for account %s (role %s, id %s; %s):

%s

It is shown only once: store it now. To use it:

  export %s=%s
`, resp.GetAccount(), resp.GetRole(), resp.GetId(), expires, resp.GetKey(), EnvAPIKey, resp.GetKey())
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
