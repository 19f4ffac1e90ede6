package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auditapi"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/deploy"
)

// maxAuditText bounds what a refusal's entry keeps of the caller's input and
// of the message.
const maxAuditText = 512

// refused maps err to the status the caller gets, as toStatus does, and
// keeps the refusal in the audit trail before the caller hears of it. A
// request for an account that is not valid has no trail and is not kept.
func refused(ctx context.Context, log *slog.Logger, t *deploy.Tracker, method, action, actor string, res audit.Resource, err error) error {
	st := toStatus(ctx, log, method, err)
	if validate.Account(res.Account) != nil {
		return st
	}
	s := status.Convert(st)
	res.ID, res.Name, res.Project = clip(res.ID, 64), clip(res.Name, 64), clip(res.Project, 64)
	if rerr := t.RecordRefused(audit.ActorOf(actor), action, res, s.Code().String(), clip(s.Message(), maxAuditText)); rerr != nil {
		log.ErrorContext(ctx, "cannot record a refused write in the audit trail", slog.String("method", method), slog.String("error", rerr.Error()))
	}
	return st
}

func deploymentResource(account, project, id, environment string) audit.Resource {
	return audit.Resource{Kind: audit.KindDeployment, Account: account, Project: project, ID: id, Name: environment}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Audit serves AuditService: the deploytracker's part of an account's
// trail, which certmgr's listing merges in.
type Audit struct {
	deploytrackerv1.UnimplementedAuditServiceServer
	t   *deploy.Tracker
	log *slog.Logger
}

// NewAudit returns the AuditService handlers.
func NewAudit(t *deploy.Tracker, log *slog.Logger) *Audit { return &Audit{t: t, log: log} }

// ListAuditEntries lists the deploytracker's entries of an account, newest
// first.
func (s *Audit) ListAuditEntries(ctx context.Context, req *certmgrv1.ListAuditEntriesRequest) (*certmgrv1.ListAuditEntriesResponse, error) {
	if err := auditapi.CheckReader(ctx, req.GetAccount()); err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	q, err := audit.Parse(auditapi.Request(req), s.t.Now())
	if err == nil && len(q.Others) > 0 {
		err = &validate.Error{Field: "page_token", Msg: "the page token is not one of the deploytracker's: pass the nextPageToken of the previous page unchanged"}
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	entries, next, err := s.t.ListAudit(q)
	if errors.Is(err, deploy.ErrNoAuditTrail) {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	out := &certmgrv1.ListAuditEntriesResponse{NextPageToken: next}
	for _, e := range entries {
		out.Entries = append(out.Entries, auditapi.ToProto(e, "deploytracker"))
	}
	return out, nil
}
