package auth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Caller returns the principal the interceptor authenticated for this call.
func Caller(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "no API key")
	}
	return p, nil
}

// Manager checks that the caller may manage account's certificates and
// deployments, and returns its key id for the audit line.
func Manager(ctx context.Context, account string) (string, error) {
	p, err := Caller(ctx)
	if err != nil {
		return "", err
	}
	if p.Role == RoleEdge && p.Account == account {
		// The account is the key's own, so saying so reveals nothing; what
		// is wrong is the role.
		return "", WrongRole(p)
	}
	if !p.CanManage(account) {
		return "", Denied(account)
	}
	return p.KeyID, nil
}

// Denied is the one answer for every account a key may not use, whether or
// not anything exists there, so the answer reveals nothing.
func Denied(account string) error {
	return status.Errorf(codes.PermissionDenied,
		"this API key may not access account %q: it is not allowed outside its own account (use a key of account %s, or the admin key)", account, account)
}

// WrongRole refuses an edge key on its own account's management APIs: it
// may only receive the account's certificates on the distribution stream.
func WrongRole(p Principal) error {
	return status.Errorf(codes.PermissionDenied,
		"this is an edge key of account %q: it only receives the account's certificates on the distribution stream (for an edge) and may not manage certificates or deployments; use an account key (the admin key creates one with `certbind api-key create --account %s`)",
		p.Account, p.Account)
}
