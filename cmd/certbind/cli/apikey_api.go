package cli

import (
	"context"
	"net/http"
	"net/url"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// ListAPIKeys lists keys, of one account when account is set
// (GET /v1/api-keys).
func (c *Client) ListAPIKeys(ctx context.Context, account string) ([]*certmgrv1.ApiKey, error) {
	q := url.Values{}
	if account != "" {
		q.Set("account", account)
	}
	out := &certmgrv1.ListApiKeysResponse{}
	err := c.call(ctx, http.MethodGet, "/v1/api-keys", q, nil, out)
	return out.GetApiKeys(), err
}

// RevokeAPIKey revokes a key (POST /v1/api-keys/{id}:revoke), which
// answers with the bare ApiKey.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) (*certmgrv1.ApiKey, error) {
	out := &certmgrv1.ApiKey{}
	err := c.call(ctx, http.MethodPost, pathf("/v1/api-keys/%s", id)+":revoke", nil, &certmgrv1.RevokeApiKeyRequest{}, out)
	return out, err
}
