package cli

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// CreateWebhook registers a webhook (POST /v1/accounts/{account}/webhooks);
// the answer holds its secret, once.
func (c *Client) CreateWebhook(ctx context.Context, req *certmgrv1.CreateWebhookRequest) (*certmgrv1.CreateWebhookResponse, error) {
	out := &certmgrv1.CreateWebhookResponse{}
	err := c.call(ctx, http.MethodPost, pathf("/v1/accounts/%s/webhooks", req.GetAccount()), nil, req, out)
	return out, err
}

// ListWebhooks lists an account's webhooks (GET /v1/accounts/{account}/webhooks).
func (c *Client) ListWebhooks(ctx context.Context, account string) (*certmgrv1.ListWebhooksResponse, error) {
	out := &certmgrv1.ListWebhooksResponse{}
	err := c.call(ctx, http.MethodGet, pathf("/v1/accounts/%s/webhooks", account), nil, nil, out)
	return out, err
}

// DeleteWebhook deletes a webhook by id or name
// (DELETE /v1/accounts/{account}/webhooks/{webhook}).
func (c *Client) DeleteWebhook(ctx context.Context, account, webhook string) error {
	return c.call(ctx, http.MethodDelete, pathf("/v1/accounts/%s/webhooks/%s", account, webhook), nil, nil, &certmgrv1.DeleteWebhookResponse{})
}

// ListWebhookDeliveries lists a webhook's deliveries, newest first
// (GET /v1/accounts/{account}/webhooks/{webhook}/deliveries).
func (c *Client) ListWebhookDeliveries(ctx context.Context, account, webhook string, pageSize int) (*certmgrv1.ListWebhookDeliveriesResponse, error) {
	q := url.Values{}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	out := &certmgrv1.ListWebhookDeliveriesResponse{}
	err := c.call(ctx, http.MethodGet, pathf("/v1/accounts/%s/webhooks/%s/deliveries", account, webhook), q, nil, out)
	return out, err
}
