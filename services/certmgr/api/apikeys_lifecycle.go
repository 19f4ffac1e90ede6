package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/store"
)

// keyManager returns the account whose keys the caller may list and
// revoke: "" (every account) for the admin, its own for an account key. An
// account key may see and revoke its account's keys so that a team that
// leaks a key can end it at once; it already manages everything those keys
// reach, so this gives it nothing new. Edge keys may do neither.
func keyManager(ctx context.Context) (auth.Principal, string, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return p, "", err
	}
	switch p.Role {
	case auth.RoleAdmin:
		return p, "", nil
	case auth.RoleAccount:
		return p, p.Account, nil
	}
	return p, "", status.Error(codes.PermissionDenied, "only the admin key or an account key may list or revoke API keys")
}

// ListApiKeys lists keys, never their secrets or hashes.
func (s *APIKeys) ListApiKeys(ctx context.Context, req *certmgrv1.ListApiKeysRequest) (*certmgrv1.ListApiKeysResponse, error) {
	_, own, err := keyManager(ctx)
	if err != nil {
		return nil, err
	}
	account := req.GetAccount()
	if account != "" {
		if err := validate.Account(account); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if own != "" {
		if account != "" && account != own {
			return nil, auth.Denied(account)
		}
		account = own
	}
	keys, err := s.authn.List(account)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListApiKeys", err)
	}
	now := s.now()
	out := &certmgrv1.ListApiKeysResponse{ApiKeys: make([]*certmgrv1.ApiKey, 0, len(keys))}
	for _, k := range keys {
		out.ApiKeys = append(out.ApiKeys, apiKeyToProto(k, now))
	}
	return out, nil
}

// RevokeApiKey revokes a key everywhere and ends its open streams.
func (s *APIKeys) RevokeApiKey(ctx context.Context, req *certmgrv1.RevokeApiKeyRequest) (*certmgrv1.RevokeApiKeyResponse, error) {
	p, own, err := keyManager(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "no key id: pass --id (see `certbind api-key list`)")
	}
	k, err := s.authn.Revoke(req.GetId(), own)
	if errors.Is(err, auth.ErrKeyNotFound) {
		// The same answer whether the key is missing or another account's.
		return nil, status.Error(codes.NotFound, "no API key with that id that this key may manage (list them with `certbind api-key list`)")
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "RevokeApiKey", err)
	}
	s.audit.Info("audit", slog.String("action", "apikey.revoke"), slog.String("actor", p.KeyID),
		slog.String("account", k.Account), slog.String("keyId", k.ID))
	return &certmgrv1.RevokeApiKeyResponse{ApiKey: apiKeyToProto(k, s.now())}, nil
}

// apiKeyToProto describes k; the hash stays behind.
func apiKeyToProto(k store.APIKey, now time.Time) *certmgrv1.ApiKey {
	state := "active"
	switch {
	case k.RevokedAt != nil:
		state = "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		state = "expired"
	}
	return &certmgrv1.ApiKey{Id: k.ID, Name: k.Name, Account: k.Account, Role: k.Role, Project: k.Project,
		EnvironmentTypes: k.EnvironmentTypes, CreatedAt: timestamppb.New(k.CreatedAt), ExpiresAt: optionalTime(k.ExpiresAt),
		LastUsedAt: optionalTime(k.LastUsedAt), RevokedAt: optionalTime(k.RevokedAt), State: state}
}

func optionalTime(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
