package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

type deploymentListOptions struct {
	projectOptions
	Environment string
}

// AddFlags registers the flags of "deployment list".
func (o *deploymentListOptions) AddFlags(fs *pflag.FlagSet) {
	o.projectOptions.AddFlags(fs)
	deploymentAccountHelp(fs)
	fs.StringVar(&o.Environment, "environment", "", "only the deployment of this environment, e.g. production")
}

// Validate checks the project and the environment filter.
func (o *deploymentListOptions) Validate() error {
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	if o.Environment != "" {
		return checkEnvironmentName(o.Environment)
	}
	return nil
}

func newDeploymentListCmd(g *GlobalOptions) *cobra.Command {
	o := &deploymentListOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"ls"},
		Use:     "list --account A --project P [--environment NAME]",
		Short:   "List the deployments of a project",
		Long: `Lists the deployments of a project, one per environment, with the URL the edge
serves each at and the certificates its routes reference. --output json
prints a JSON array of deployments.`,
		Example: `  certbind deployment list --account acme --project shop

  # Which environments use myBackendCert, for a script:
  certbind deployment list --account acme --project shop --output json |
      jq -r '.[] | select(any(.references[]; .certificateName == "myBackendCert")) | .environment'`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			resp, err := client.ListDeployments(cmd.Context(), &deploytrackerv1.ListDeploymentsRequest{
				Account:     o.Account,
				Project:     o.Project,
				Environment: o.Environment,
			})
			if err != nil {
				return err
			}
			empty := fmt.Sprintf("no deployments in account %s, project %s", o.Account, o.Project)
			if o.Environment != "" {
				empty = fmt.Sprintf("no deployment for environment %s in account %s, project %s", o.Environment, o.Account, o.Project)
			}
			return writeDeploymentList(cmd.OutOrStdout(), g.Output, resp.GetDeployments(), empty)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
