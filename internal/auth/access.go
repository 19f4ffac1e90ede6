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
	if !p.CanManage(account) {
		return "", Denied(account)
	}
	return p.KeyID, nil
}

// Denied is the one answer for every account a key may not use, whether or
// not anything exists there, so the answer reveals nothing.
func Denied(account string) error {
	return status.Errorf(codes.PermissionDenied, "this API key may not access account %q", account)
}
