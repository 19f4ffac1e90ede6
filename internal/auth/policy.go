package auth

import (
	"fmt"
	"log/slog"

	"github.com/certbind/certbind/internal/validate"
)

// ForbiddenError refuses a caller whose key may not do what it asked. The
// services answer it as PermissionDenied with its text unchanged, so the
// text says what the key may not do and, where there is one, what to use
// instead.
type ForbiddenError struct{ Msg string }

func (e *ForbiddenError) Error() string { return e.Msg }

// AdminOnly refuses every caller but the admin key, saying what only the
// admin key may do.
func AdminOnly(p Principal, what string) error {
	if p.Role != RoleAdmin {
		return &ForbiddenError{Msg: "only the admin key may " + what}
	}
	return nil
}

// ServiceOnly refuses every caller but the certbind services' key.
func ServiceOnly(p Principal) error {
	if p.Role != RoleService {
		return &ForbiddenError{Msg: "only certbind services may call this (with the service key)"}
	}
	return nil
}

// KeyRequest is a request for a new API key, as the caller sent it.
type KeyRequest struct {
	Account, Role, Project string
	EnvironmentTypes       []string
	Name, ExpiresIn        string
}

// CheckCreateKey is the policy for issuing API keys: only the admin key
// may, a key belongs to one valid account, its role is account or edge,
// and only an edge key may be limited to a project or environment types.
// It returns the key to issue, or a *ForbiddenError or *validate.Error
// that says what to change; the checks run in that order, so a caller that
// may not create keys learns nothing about its request.
func CheckCreateKey(p Principal, r KeyRequest) (KeySpec, error) {
	if err := AdminOnly(p, "create API keys"); err != nil {
		return KeySpec{}, err
	}
	if err := validate.Account(r.Account); err != nil {
		return KeySpec{}, err
	}
	role, ok := ParseRole(r.Role)
	if !ok {
		return KeySpec{}, &validate.Error{Field: "role", Msg: fmt.Sprintf("role %q is not known: use account (manage certificates and deployments) or edge (receive certificates on the distribution stream)", r.Role)}
	}
	project, types := r.Project, r.EnvironmentTypes
	if (project != "" || len(types) > 0) && role != RoleEdge {
		return KeySpec{}, &validate.Error{Field: "role", Msg: "a project or environment-type limit applies to edge keys only: add --role edge, or drop the limit"}
	}
	if project != "" {
		if err := validate.Project(project); err != nil {
			return KeySpec{}, err
		}
	}
	if len(types) > 0 {
		var err error
		if types, err = validate.EnvironmentTypes(types); err != nil {
			return KeySpec{}, err
		}
	}
	if err := validate.KeyName(r.Name); err != nil {
		return KeySpec{}, err
	}
	expiresIn, err := validate.ExpiresIn(r.ExpiresIn)
	if err != nil {
		return KeySpec{}, err
	}
	return KeySpec{Account: r.Account, Role: role, Project: project, EnvironmentTypes: types, Name: r.Name, ExpiresIn: expiresIn}, nil
}

// AuditKeyCreate writes the audit line for a key that actor issued. The
// line names the key, never its secret or hash.
func AuditKeyCreate(audit *slog.Logger, actor Principal, rec APIKey) {
	audit.Info("audit", slog.String("action", "apikey.create"), slog.String("actor", actor.KeyID),
		slog.String("account", rec.Account), slog.String("keyId", rec.ID), slog.String("role", rec.Role),
		slog.String("project", rec.Project), slog.Any("environmentTypes", rec.EnvironmentTypes), slog.String("name", rec.Name),
		slog.Any("expiresAt", rec.ExpiresAt))
}

// KeyManager returns the account whose keys p may list and revoke: ""
// (every account) for the admin, its own for an account key. An account
// key may see and revoke its account's keys so that a team that leaks a key
// can end it at once; it already manages everything those keys reach, so
// this gives it nothing new. Edge and service keys may do neither.
func KeyManager(p Principal) (string, error) {
	switch p.Role {
	case RoleAdmin:
		return "", nil
	case RoleAccount:
		return p.Account, nil
	}
	return "", &ForbiddenError{Msg: "only the admin key or an account key may list or revoke API keys"}
}

// KeysToList returns the account whose keys a manager of own (see
// KeyManager) sees when it asks for account's: account itself for the
// admin, own for an account key, which may name no other account.
func KeysToList(own, account string) (string, error) {
	if account != "" {
		if err := validate.Account(account); err != nil {
			return "", err
		}
	}
	if own != "" {
		if account != "" && account != own {
			return "", Denied(account)
		}
		account = own
	}
	return account, nil
}

// AuditKeyRevoke writes the audit line for a key that actor revoked.
func AuditKeyRevoke(audit *slog.Logger, actor Principal, k APIKey) {
	audit.Info("audit", slog.String("action", "apikey.revoke"), slog.String("actor", actor.KeyID),
		slog.String("account", k.Account), slog.String("keyId", k.ID))
}
