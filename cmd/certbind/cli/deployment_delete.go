package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDeploymentDeleteCmd(g *GlobalOptions) *cobra.Command {
	o := &deploymentTargetOptions{}
	c := &confirmOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"rm"},
		Use:     "delete (ENVIRONMENT | ID | --environment NAME | --id ID) --account A --project P",
		Short:   "Delete a deployment and release its certificates",
		Long: `Deletes a deployment: the edge stops serving it, and the certificates it
referenced are no longer protected by it (a certificate can be deleted once no
deployment references it).

` + confirmHelp + `

Prints "deleted deployment ID (environment NAME)"; with --output json, the
API's answer, which holds the id.`,
		Example: `  certbind deployment delete --account acme --project shop --environment pr-42

  # Then a certificate that only pr-42 used can go:
  certbind mtls-certificate delete --account acme --project shop --name previewCert`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				// Fetched first so the confirmation names the environment, also
				// when only --id was given.
				d, err := client.GetDeployment(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				if err := c.confirm(cmd, fmt.Sprintf("Delete the deployment of environment %s (%s) in %s/%s?", d.GetEnvironment(), id, o.Account, o.Project)); err != nil {
					return err
				}
				resp, err := client.DeleteDeployment(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				if g.Output == OutputJSON {
					return writeJSON(cmd.OutOrStdout(), resp)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted deployment %s (environment %s)\n", id, d.GetEnvironment())
				return err
			})
		},
	}
	o.AddFlags(cmd.Flags())
	c.AddFlags(cmd.Flags())
	return cmd
}
