package api

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

func keyResource(account, id, name string) audit.Resource {
	return audit.Resource{Kind: audit.KindAPIKey, Account: account, ID: id, Name: name}
}

// record keeps a key write in the audit trail before the caller hears of
// it. The key record and the entry are two transactions: a crash between
// them leaves the key without its entry (its log line is written).
func (s *APIKeys) record(ctx context.Context, p auth.Principal, action string, res audit.Resource) {
	if err := s.trail.Record(audit.Actor{KeyID: p.KeyID, Role: string(p.Role)}, action, res); err != nil {
		s.log.ErrorContext(ctx, "cannot record an API key write in the audit trail", slog.String("action", action), slog.String("error", err.Error()))
	}
}

// APIKeys serves ApiKeyService.
type APIKeys struct {
	certmgrv1.UnimplementedApiKeyServiceServer
	authn *auth.Authenticator
	trail *certs.Manager
	audit *slog.Logger
	log   *slog.Logger
	now   func() time.Time
}

// NewAPIKeys returns the ApiKeyService handlers.
// Their writes are kept in trail's audit trail.
func NewAPIKeys(a *auth.Authenticator, trail *certs.Manager, audit, log *slog.Logger, now func() time.Time) *APIKeys {
	return &APIKeys{authn: a, trail: trail, audit: audit, log: log, now: now}
}

// CreateApiKey issues a key for one account. Admin only.
func (s *APIKeys) CreateApiKey(ctx context.Context, req *certmgrv1.CreateApiKeyRequest) (*certmgrv1.CreateApiKeyResponse, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	spec, err := auth.CheckCreateKey(p, auth.KeyRequest{Account: req.GetAccount(), Role: req.GetRole(), Project: req.GetProject(),
		EnvironmentTypes: req.GetEnvironmentTypes(), Name: req.GetName(), ExpiresIn: req.GetExpiresIn()})
	if err != nil {
		if p.Role != auth.RoleAdmin {
			// Only the admin key may create keys: another key's attempt is
			// no write to any account's keys.
			return nil, toStatus(ctx, s.log, "CreateApiKey", err)
		}
		return nil, refused(ctx, s.log, s.trail, "CreateApiKey", "apikey.create", p.KeyID, keyResource(req.GetAccount(), "", req.GetName()), err)
	}
	secret, rec, err := s.authn.IssueKey(spec, s.now())
	if err != nil {
		return nil, refused(ctx, s.log, s.trail, "CreateApiKey", "apikey.create", p.KeyID, keyResource(req.GetAccount(), "", req.GetName()), err)
	}
	auth.AuditKeyCreate(s.audit, p, rec)
	s.record(ctx, p, "apikey.create", keyResource(rec.Account, rec.ID, rec.Name))
	return &certmgrv1.CreateApiKeyResponse{Key: secret, Id: rec.ID, Account: rec.Account, Role: rec.Role, CreatedAt: timestamppb.New(rec.CreatedAt),
		Project: rec.Project, EnvironmentTypes: rec.EnvironmentTypes, Name: rec.Name, ExpiresAt: optionalTime(rec.ExpiresAt)}, nil
}
