package cli

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// ListAuditEntries reads one page of an account's audit trail
// (GET /v1/accounts/{account}/audit).
func (c *Client) ListAuditEntries(ctx context.Context, req *certmgrv1.ListAuditEntriesRequest) (*certmgrv1.ListAuditEntriesResponse, error) {
	q := url.Values{}
	for k, v := range map[string]string{"resource": req.GetResource(), "action": req.GetAction(), "since": req.GetSince(), "pageToken": req.GetPageToken()} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if req.GetPageSize() > 0 {
		q.Set("pageSize", strconv.Itoa(int(req.GetPageSize())))
	}
	out := &certmgrv1.ListAuditEntriesResponse{}
	err := c.call(ctx, http.MethodGet, pathf("/v1/accounts/%s/audit", req.GetAccount()), q, nil, out)
	return out, err
}
