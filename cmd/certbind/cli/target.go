package cli

import "context"

// target is the options of a command that acts on one certificate or
// deployment, named by id or by name.
type target interface {
	// Validate checks the flags before any request.
	Validate() error
	// resolve returns the id the flags name.
	resolve(ctx context.Context, c *Client) (string, error)
}

// onTarget checks the flags, connects, finds the id they name and runs fn
// with the client and that id.
func onTarget(ctx context.Context, g *GlobalOptions, o target, fn func(c *Client, id string) error) error {
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
