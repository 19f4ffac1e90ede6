// Package auditapi is what certmgr's and the deploytracker's AuditServices
// share: who may read which trail, and an entry as the API shows it.
package auditapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// CheckReader lets the admin key read any account's trail (the system
// trail included), an account key its own account's only, and the services'
// key any (certmgr reads the deploytracker's part for a caller it checked);
// edge keys read none.
func CheckReader(ctx context.Context, account string) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	switch {
	case p.Role == auth.RoleAdmin, p.Role == auth.RoleService:
		return nil
	case account == audit.SystemAccount:
		return &auth.ForbiddenError{Msg: "only the admin key may read the system audit trail"}
	case p.Role == auth.RoleAccount && p.Account == account:
		return nil
	case p.Role == auth.RoleAccount:
		return auth.Denied(account)
	}
	return &auth.ForbiddenError{Msg: "only the admin key or an account key may read an audit trail (this key's role is " + string(p.Role) + ")"}
}

// ToProto is e as the API shows it, kept by service.
func ToProto(e audit.Entry, service string) *certmgrv1.AuditEntry {
	return &certmgrv1.AuditEntry{
		Time: timestamppb.New(e.Time), ActorKeyId: e.Actor.KeyID, ActorRole: e.Actor.Role, Action: e.Action,
		Resource: &certmgrv1.AuditResource{Kind: e.Resource.Kind, Account: e.Resource.Account, Project: e.Resource.Project, Id: e.Resource.ID, Name: e.Resource.Name},
		Result:   e.Result, Code: e.Code, Message: e.Message, Revision: e.Revision, Seq: e.Seq, Service: service,
	}
}

// Request is req as audit.Parse takes it.
func Request(req *certmgrv1.ListAuditEntriesRequest) audit.Request {
	return audit.Request{Account: req.GetAccount(), ResourceID: req.GetResource(), Action: req.GetAction(),
		Since: req.GetSince(), PageToken: req.GetPageToken(), PageSize: req.GetPageSize()}
}
