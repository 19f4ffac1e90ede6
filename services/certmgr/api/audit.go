package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// maxAuditText bounds what a refusal's entry keeps of the caller's input and
// of the message: an entry stays small whatever a request holds.
const maxAuditText = 512

// refused maps err to the status the caller gets, as toStatus does, and
// keeps the refusal in the audit trail before the caller hears of it. A
// request for an account that is not valid is not kept: it has no trail.
func refused(ctx context.Context, log *slog.Logger, m *certs.Manager, method, action, actor string, res audit.Resource, err error) error {
	st := toStatus(ctx, log, method, err)
	if res.Account != "" && validate.Account(res.Account) != nil {
		return st
	}
	s := status.Convert(st)
	res.ID, res.Name = clip(res.ID, 64), clip(res.Name, 64)
	if rerr := m.RecordRefused(audit.ActorOf(actor), action, res, s.Code().String(), clip(s.Message(), maxAuditText)); rerr != nil {
		log.ErrorContext(ctx, "cannot record a refused write in the audit trail", slog.String("method", method), slog.String("error", rerr.Error()))
	}
	return st
}

func certResource(account, project, id, name string) audit.Resource {
	return audit.Resource{Kind: audit.KindCertificate, Account: account, Project: project, ID: id, Name: name}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Audit serves AuditService.
type Audit struct {
	certmgrv1.UnimplementedAuditServiceServer
	m   *certs.Manager
	log *slog.Logger
}

// NewAudit returns the AuditService handlers.
func NewAudit(m *certs.Manager, log *slog.Logger) *Audit { return &Audit{m: m, log: log} }

// ListAuditEntries lists an account's audit trail: its own for an account
// key, any account's for the admin key, none for an edge key.
func (s *Audit) ListAuditEntries(ctx context.Context, req *certmgrv1.ListAuditEntriesRequest) (*certmgrv1.ListAuditEntriesResponse, error) {
	if err := auditReader(ctx, req.GetAccount()); err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	q, err := audit.Parse(audit.Request{Account: req.GetAccount(), ResourceID: req.GetResource(), Action: req.GetAction(),
		Since: req.GetSince(), PageToken: req.GetPageToken(), PageSize: req.GetPageSize()}, s.m.Now())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	entries, next, err := s.m.ListAudit(q)
	if errors.Is(err, certs.ErrNoAuditTrail) {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	out := &certmgrv1.ListAuditEntriesResponse{NextPageToken: next}
	for _, e := range entries {
		out.Entries = append(out.Entries, auditToProto(e))
	}
	return out, nil
}

// auditReader lets the admin key read any trail (the system one included)
// and an account key its own account's only; edge and service keys read
// none.
func auditReader(ctx context.Context, account string) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	switch {
	case p.Role == auth.RoleAdmin:
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

func auditToProto(e audit.Entry) *certmgrv1.AuditEntry {
	return &certmgrv1.AuditEntry{
		Time: timestamppb.New(e.Time), ActorKeyId: e.Actor.KeyID, ActorRole: e.Actor.Role, Action: e.Action,
		Resource: &certmgrv1.AuditResource{Kind: e.Resource.Kind, Account: e.Resource.Account, Project: e.Resource.Project, Id: e.Resource.ID, Name: e.Resource.Name},
		Result:   e.Result, Code: e.Code, Message: e.Message, Revision: e.Revision,
	}
}
