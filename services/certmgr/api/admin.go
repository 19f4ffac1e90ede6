package api

import (
	"context"

	"github.com/certbind/certbind/internal/auth"
)

// adminOnly refuses every caller but the admin key, saying what only the
// admin key may do, and returns the caller.
func adminOnly(ctx context.Context, what string) (auth.Principal, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return p, err
	}
	return p, auth.AdminOnly(p, what)
}
