package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

func newDeploymentCmd(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deployment",
		Aliases: []string{"deployments"},
		Short:   "List, inspect and delete the deployments of a project",
		Long: `A deployment is a gateway config deployed to one named environment of a
project ("certbind deploy" creates or replaces it). The edge serves it at the
deployment's URL, and the certificates its routes name stay protected from
deletion for as long as the deployment references them.

Deleting a deployment releases its certificates; redeploying without a
certificate does the same for that certificate only.`,
		Example: `  certbind deployment list --account acme --project shop
  certbind deployment describe --account acme --project shop --environment production
  certbind deployment delete --account acme --project shop --environment pr-42`,
		RunE: runGroup,
	}
	cmd.AddCommand(
		newDeploymentListCmd(g),
		newDeploymentDescribeCmd(g),
		newDeploymentDeleteCmd(g),
	)
	return cmd
}

// checkEnvironmentName checks an environment name given in --environment
// with the server's rule, before any request.
func checkEnvironmentName(s string) error {
	if s == "" {
		return usageError(errors.New(`--environment is required (e.g. --environment production)`))
	}
	if err := validate.Environment(s); err != nil {
		return flagError("environment", err)
	}
	return nil
}

// deploymentAccountHelp makes the help of --account, written for
// certificates, speak of deployments.
func deploymentAccountHelp(fs *pflag.FlagSet) {
	fs.Lookup("account").Usage = "account that owns the deployments (required; or " + EnvAccount + " or a profile), e.g. acme"
}

// deploymentTargetOptions selects one deployment, by environment or by id.
type deploymentTargetOptions struct {
	projectOptions
	Environment string
	ID          string
}

// AddFlags registers --account, --project, --environment and --id.
func (o *deploymentTargetOptions) AddFlags(fs *pflag.FlagSet) {
	o.projectOptions.AddFlags(fs)
	deploymentAccountHelp(fs)
	fs.StringVar(&o.Environment, "environment", "", "name of the environment whose deployment is meant, e.g. production (this, --id or the environment or id as the argument)")
	fs.StringVar(&o.ID, "id", "", "id of the deployment (this, --environment or the environment or id as the argument)")
}

// Validate checks the project and that exactly one of --environment and
// --id is given.
func (o *deploymentTargetOptions) Validate() error {
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.Environment == "" && o.ID == "":
		return errors.New("give the deployment with --environment NAME or --id ID, or its environment or id as the argument (describe production)")
	case o.Environment != "" && o.ID != "":
		return errors.New("give either --environment or --id, not both")
	case o.Environment != "":
		return checkEnvironmentName(o.Environment)
	}
	return nil
}

// resolve returns the deployment id: --id as given, or the id of the
// deployment of --environment, found by listing with the environment filter.
func (o *deploymentTargetOptions) resolve(ctx context.Context, c *Client) (string, error) {
	if o.ID != "" {
		return o.ID, nil
	}
	resp, err := c.ListDeployments(ctx, &deploytrackerv1.ListDeploymentsRequest{
		Account: o.Account, Project: o.Project, Environment: o.Environment,
	})
	if err != nil {
		return "", err
	}
	// As with certificate names, the filter is applied again so that a
	// server that ignored it cannot make the CLI act on another environment.
	var ids []string
	for _, d := range resp.GetDeployments() {
		if d.GetEnvironment() == o.Environment {
			ids = append(ids, d.GetId())
		}
	}
	switch len(ids) {
	case 0:
		return "", notFoundError(fmt.Errorf("no deployment for environment %q in account %s, project %s (see the environments with: certbind deployment list --account %s --project %s)",
			o.Environment, o.Account, o.Project, o.Account, o.Project))
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d deployments are listed for environment %q in account %s, project %s; pick one with --id (one of %v)",
		len(ids), o.Environment, o.Account, o.Project, ids)
}
