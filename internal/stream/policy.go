package stream

import (
	"fmt"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/validate"
)

// Request is the scope a watch asks for: empty fields ask for everything
// the key may see.
type Request struct {
	Account, Project, EnvironmentType string
}

// ErrProjectWithoutAccount refuses a watch scoped to a project of no
// account.
var ErrProjectWithoutAccount = &validate.Error{Field: "project", Msg: "a project scope needs an account: set account too"}

// ScopeFor is the one scope policy of the change streams: it checks what
// a watch asks for and narrows it to what the caller may see. Only admin
// and edge keys may watch (what names what the stream carries, for the
// refusal of an account key); an edge key sees only its account, and only
// the project and environment types it is limited to; the admin key may
// watch everything. Account, project and environment type are checked
// like every other name from a request.
func ScopeFor(p auth.Principal, req Request, what string) (changefeed.Scope, error) {
	sc := changefeed.Scope{Account: req.Account, Project: req.Project}
	switch p.Role {
	case auth.RoleAdmin, auth.RoleEdge:
	case auth.RoleAccount:
		return sc, &auth.ForbiddenError{Msg: fmt.Sprintf("account keys may not %s: create an edge key with `certbind api-key create --account A --role edge`", what)}
	default:
		return sc, &auth.ForbiddenError{Msg: fmt.Sprintf("only edge and admin keys may %s", what)}
	}
	if t := req.EnvironmentType; t != "" {
		if err := validate.EnvironmentType(t).Validate(); err != nil {
			return sc, err
		}
		sc.EnvironmentTypes = []string{t}
	}
	if sc.Account == "" && p.Role == auth.RoleEdge {
		sc.Account = p.Account
	}
	if sc.Account != "" {
		if err := validate.Account(sc.Account); err != nil {
			return sc, err
		}
		if !p.CanReceive(sc.Account) {
			return sc, auth.Denied(sc.Account)
		}
	}
	if sc.Project != "" {
		if sc.Account == "" {
			return sc, ErrProjectWithoutAccount
		}
		if err := validate.Project(sc.Project); err != nil {
			return sc, err
		}
	}
	// An edge key limited to a project or environment types receives
	// nothing outside them, whatever it asks for.
	project, types, err := p.Limit(sc.Project, sc.EnvironmentTypes)
	if err != nil {
		return sc, &auth.ForbiddenError{Msg: err.Error()}
	}
	sc.Project, sc.EnvironmentTypes = project, types
	return sc, nil
}
