package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
)

// adminOnly refuses every caller but the admin key, saying what only the
// admin key may do, and returns the caller.
func adminOnly(ctx context.Context, what string) (auth.Principal, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return p, err
	}
	if p.Role != auth.RoleAdmin {
		return p, status.Error(codes.PermissionDenied, "only the admin key may "+what)
	}
	return p, nil
}
