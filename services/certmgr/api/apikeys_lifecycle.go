package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/store"
)

// keyManager returns the caller and the account whose keys it may list
// and revoke (see auth.KeyManager).
func keyManager(ctx context.Context) (auth.Principal, string, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return p, "", err
	}
	own, err := auth.KeyManager(p)
	return p, own, err
}

// errNoKeyID refuses a revoke that names no key.
var errNoKeyID = &validate.Error{Field: "id", Msg: "no key id: pass --id (see `certbind api-key list`)"}

// ListApiKeys lists keys, never their secrets or hashes.
func (s *APIKeys) ListApiKeys(ctx context.Context, req *certmgrv1.ListApiKeysRequest) (*certmgrv1.ListApiKeysResponse, error) {
	_, own, err := keyManager(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListApiKeys", err)
	}
	account, err := auth.KeysToList(own, req.GetAccount())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListApiKeys", err)
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
		return nil, toStatus(ctx, s.log, "RevokeApiKey", err)
	}
	if req.GetId() == "" {
		return nil, toStatus(ctx, s.log, "RevokeApiKey", errNoKeyID)
	}
	// auth.ErrKeyNotFound is the same answer whether the key is missing or
	// another account's.
	k, err := s.authn.Revoke(req.GetId(), own)
	if err != nil {
		return nil, toStatus(ctx, s.log, "RevokeApiKey", err)
	}
	auth.AuditKeyRevoke(s.audit, p, k)
	s.record(ctx, p, "apikey.revoke", keyResource(k.Account, k.ID, k.Name))
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
