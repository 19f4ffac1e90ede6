package api

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// APIKeys serves ApiKeyService.
type APIKeys struct {
	certmgrv1.UnimplementedApiKeyServiceServer
	authn *auth.Authenticator
	audit *slog.Logger
	log   *slog.Logger
	now   func() time.Time
}

// NewAPIKeys returns the ApiKeyService handlers.
func NewAPIKeys(a *auth.Authenticator, audit, log *slog.Logger, now func() time.Time) *APIKeys {
	return &APIKeys{authn: a, audit: audit, log: log, now: now}
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
		return nil, toStatus(ctx, s.log, "CreateApiKey", err)
	}
	secret, rec, err := s.authn.IssueKey(spec, s.now())
	if err != nil {
		return nil, toStatus(ctx, s.log, "CreateApiKey", err)
	}
	auth.AuditKeyCreate(s.audit, p, rec)
	return &certmgrv1.CreateApiKeyResponse{Key: secret, Id: rec.ID, Account: rec.Account, Role: rec.Role, CreatedAt: timestamppb.New(rec.CreatedAt),
		Project: rec.Project, EnvironmentTypes: rec.EnvironmentTypes, Name: rec.Name, ExpiresAt: optionalTime(rec.ExpiresAt)}, nil
}
