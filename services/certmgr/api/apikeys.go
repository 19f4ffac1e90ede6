package api

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
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
	if p.Role != auth.RoleAdmin {
		return nil, status.Error(codes.PermissionDenied, "only the admin key may create API keys")
	}
	if err := validate.Account(req.GetAccount()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	role, ok := auth.ParseRole(req.GetRole())
	if !ok {
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("role %q is not known: use account (manage certificates and deployments) or edge (receive certificates on the distribution stream)", req.GetRole()))
	}
	project, types := req.GetProject(), req.GetEnvironmentTypes()
	if (project != "" || len(types) > 0) && role != auth.RoleEdge {
		return nil, status.Error(codes.InvalidArgument, "a project or environment-type limit applies to edge keys only: add --role edge, or drop the limit")
	}
	if project != "" {
		if err := validate.Project(project); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if len(types) > 0 {
		var err error
		if types, err = validate.EnvironmentTypes(types); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if err := validate.KeyName(req.GetName()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	expiresIn, err := validate.ExpiresIn(req.GetExpiresIn())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	secret, rec, err := s.authn.IssueKey(auth.KeySpec{Account: req.GetAccount(), Role: role, Project: project, EnvironmentTypes: types,
		Name: req.GetName(), ExpiresIn: expiresIn}, s.now())
	if err != nil {
		return nil, toStatus(ctx, s.log, "CreateApiKey", err)
	}
	s.audit.Info("audit", slog.String("action", "apikey.create"), slog.String("actor", p.KeyID),
		slog.String("account", rec.Account), slog.String("keyId", rec.ID), slog.String("role", rec.Role),
		slog.String("project", rec.Project), slog.Any("environmentTypes", rec.EnvironmentTypes), slog.String("name", rec.Name),
		slog.Any("expiresAt", rec.ExpiresAt))
	return &certmgrv1.CreateApiKeyResponse{Key: secret, Id: rec.ID, Account: rec.Account, Role: rec.Role, CreatedAt: timestamppb.New(rec.CreatedAt),
		Project: rec.Project, EnvironmentTypes: rec.EnvironmentTypes, Name: rec.Name, ExpiresAt: optionalTime(rec.ExpiresAt)}, nil
}
