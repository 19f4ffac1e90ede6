package cli

import (
	"context"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// target is the options of a command that acts on one certificate or
// deployment, named by id or by name.
type target interface {
	// fromArgs takes the positional argument, if any, as the name or id.
	fromArgs(args []string) error
	// Validate checks the flags before any request.
	Validate() error
	// resolve returns the id the flags name.
	resolve(ctx context.Context, c *Client) (string, error)
}

// onTarget takes the positional argument, checks the flags, connects, finds the id they name and runs fn
// with the client and that id.
func onTarget(ctx context.Context, g *GlobalOptions, o target, args []string, fn func(c *Client, id string) error) error {
	if err := o.fromArgs(args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return usageError(err)
	}
	client, err := NewClient(g)
	if err != nil {
		return err
	}
	id, err := o.resolve(ctx, client)
	if err != nil {
		return err
	}
	return fn(client, id)
}

// oneTarget accepts at most one positional argument: the name or id of
// the certificate or deployment meant.
func oneTarget(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageErrorf("unexpected argument %q: give one name or id (see %q)", args[1], cmd.CommandPath()+" --help")
	}
	return nil
}

// certIDPattern is the form of a certificate id: "crt_" and 24 characters
// of the lowercase base32 alphabet.
var certIDPattern = regexp.MustCompile(`^crt_[a-z2-7]{24}$`)

// fromArgs takes a positional argument as the certificate's id when it has
// the form of one, else as its name.
func (o *targetOptions) fromArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if o.CertID != "" || o.Name != "" {
		return usageErrorf("unexpected argument %q: the certificate is already given with --name or --cert-id; give one or the other", args[0])
	}
	if certIDPattern.MatchString(args[0]) {
		o.CertID = args[0]
	} else {
		o.Name = args[0]
	}
	return nil
}

// fromArgs takes a positional argument as the deployment's id when it has
// an '_' (ids do, as in "dep_..."; environment names never do), else as
// its environment.
func (o *deploymentTargetOptions) fromArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if o.Environment != "" || o.ID != "" {
		return usageErrorf("unexpected argument %q: the deployment is already given with --environment or --id; give one or the other", args[0])
	}
	if strings.Contains(args[0], "_") {
		o.ID = args[0]
	} else {
		o.Environment = args[0]
	}
	return nil
}
