package cli

import (
	"github.com/spf13/cobra"
)

func newDeploymentDescribeCmd(g *GlobalOptions) *cobra.Command {
	o := &deploymentTargetOptions{}
	cmd := &cobra.Command{
		Use:   "describe (ENVIRONMENT | ID | --environment NAME | --id ID) --account A --project P",
		Short: "Show one deployment and its routes",
		Long: `Shows one deployment: its id, environment and type, generation, the URL the
edge serves it at, the variables it was deployed with, and its routes as the
edge serves them, with $env() resolved and the certificate each route
presents to its backend.

The deployment is given by --id, or by --environment, which is looked up in
the project first.`,
		Example: `  certbind deployment describe --account acme --project shop --environment production
  certbind deployment describe production   # with CERTBIND_ACCOUNT and CERTBIND_PROJECT set

  # The certificates it references:
  certbind deployment describe --account acme --project shop --environment production \
      --output json | jq -r '.references[].certificateName'`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				d, err := client.GetDeployment(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				return writeDeployment(cmd.OutOrStdout(), g.Output, d)
			})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
