// Package audit keeps the audit trail of the certbind services: one entry
// per write (who, what, which resource, with what result), kept in the
// service's bbolt file next to the data it describes, with a bounded
// retention per account, and listed per account with filters and pages.
//
// A write that succeeds appends its entry in the transaction of the write
// (Append), so an acknowledged write never lacks its entry, even across a
// crash. A refused write changes nothing, so its entry is appended in a small
// transaction of its own.
package audit

import "time"

// Results of a write.
const (
	ResultOK      = "ok"
	ResultRefused = "refused"
)

// Roles of the keys that write. They match the roles of internal/auth.
const (
	RoleAdmin   = "admin"
	RoleAccount = "account"
	RoleService = "service"
)

// SystemAccount holds the entries of writes that belong to no account, such
// as a master-key rotation. It is not a valid account name, so no account
// can own it; only the admin key lists it.
const SystemAccount = "_system"

// Entry is one write.
type Entry struct {
	// Seq orders the entries of an account: a later entry has a greater
	// one. The store sets it.
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    Actor     `json:"actor"`
	Action   string    `json:"action"`
	Resource Resource  `json:"resource"`
	Result   string    `json:"result"`
	// Code and Message say why a write was refused: a gRPC code name
	// ("FailedPrecondition") and the message the caller got.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Revision is the change-stream revision the write took, if any.
	Revision uint64 `json:"revision,omitempty"`
}

// Actor is the API key that asked for a write: its id and role, never the
// key itself.
type Actor struct {
	KeyID string `json:"keyId"`
	Role  string `json:"role"`
}

// Resource is what a write was about.
type Resource struct {
	Kind    string `json:"kind"`
	Account string `json:"account,omitempty"`
	Project string `json:"project,omitempty"`
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Kinds of resource.
const (
	KindCertificate = "certificate"
	KindAPIKey      = "apiKey"
	KindMasterKey   = "masterKey"
	KindDeployment  = "deployment"
)

// ActorOf returns the actor for a key id as internal/auth names callers:
// "admin" is the admin key, "service" and the services' own names are the
// services, and any other id is an account key (edge keys cannot write).
func ActorOf(keyID string) Actor {
	switch keyID {
	case "admin":
		return Actor{KeyID: keyID, Role: RoleAdmin}
	case "service", "certmgr", "deploytracker":
		return Actor{KeyID: keyID, Role: RoleService}
	}
	return Actor{KeyID: keyID, Role: RoleAccount}
}

// AccountOf is the account an entry is kept under.
func (e *Entry) AccountOf() string {
	if e.Resource.Account == "" {
		return SystemAccount
	}
	return e.Resource.Account
}
