package auth

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Role is what a key may do.
type Role string

// Roles.
const (
	// RoleAdmin may do everything, in every account, and issue keys.
	RoleAdmin Role = "admin"
	// RoleAccount manages the certificates and deployments of one account.
	RoleAccount Role = "account"
	// RoleEdge receives one account's certificate material on the
	// distribution stream, and nothing else.
	RoleEdge Role = "edge"
	// RoleService is another certbind service (certmgr and deploytracker
	// calling each other). It may call the internal services only.
	RoleService Role = "service"
)

// ParseRole checks a role name given by a user; "" means RoleAccount.
func ParseRole(s string) (Role, bool) {
	switch Role(s) {
	case "", RoleAccount:
		return RoleAccount, true
	case RoleEdge:
		return RoleEdge, true
	}
	return "", false
}

// Principal is an authenticated caller.
type Principal struct {
	// KeyID names the key in audit lines; it is not secret.
	KeyID   string
	Role    Role
	Account string // empty for RoleAdmin
	// Project and EnvironmentTypes limit what an edge key receives; empty
	// means the whole account.
	Project          string
	EnvironmentTypes []string
	// ExpiresAt is when the key stops working; zero means never. Streams
	// of the key end then.
	ExpiresAt time.Time
}

// Limit narrows a requested stream scope to what p may receive: an empty
// project becomes p's project, and the environment types become those of
// the request that p allows. It fails when the request asks for more.
func (p Principal) Limit(project string, environmentTypes []string) (string, []string, error) {
	if p.Project != "" {
		if project != "" && project != p.Project {
			return "", nil, fmt.Errorf("this key is limited to project %q", p.Project)
		}
		project = p.Project
	}
	if len(p.EnvironmentTypes) == 0 {
		return project, environmentTypes, nil
	}
	if len(environmentTypes) == 0 {
		return project, p.EnvironmentTypes, nil
	}
	for _, t := range environmentTypes {
		if !slices.Contains(p.EnvironmentTypes, t) {
			return "", nil, fmt.Errorf("this key is limited to environment types %v", p.EnvironmentTypes)
		}
	}
	return project, environmentTypes, nil
}

// CanManage reports whether p may read and change the account's
// certificates and deployments.
func (p Principal) CanManage(account string) bool {
	return p.Role == RoleAdmin || (p.Role == RoleAccount && p.Account == account)
}

// CanReceive reports whether p may receive the account's private keys.
func (p Principal) CanReceive(account string) bool {
	return p.Role == RoleAdmin || (p.Role == RoleEdge && p.Account == account)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p. Only the interceptors call it.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the interceptor authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
