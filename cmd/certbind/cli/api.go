package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/protobuf/proto"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// The typed calls below follow proto/http.yaml. Calls bound with
// "response_body: certificate" answer with the bare Certificate, and those
// bound with "response_body: deployment" with the bare Deployment.

func certificatesPath(account, project string) string {
	return pathf("/v1/accounts/%s/projects/%s/mtls-certificates", account, project)
}

func certificatePath(account, project, id string) string {
	return certificatesPath(account, project) + pathf("/%s", id)
}

// CreateCertificate uploads a certificate (POST .../mtls-certificates).
func (c *Client) CreateCertificate(ctx context.Context, req *certmgrv1.CreateCertificateRequest) (*certmgrv1.Certificate, error) {
	out := &certmgrv1.Certificate{}
	err := c.call(ctx, http.MethodPost, certificatesPath(req.GetAccount(), req.GetProject()), nil, req, out)
	return out, err
}

// ListCertificates fetches one page (GET .../mtls-certificates).
func (c *Client) ListCertificates(ctx context.Context, req *certmgrv1.ListCertificatesRequest) (*certmgrv1.ListCertificatesResponse, error) {
	q := url.Values{}
	set := func(key, value string) {
		if value != "" {
			q.Set(key, value)
		}
	}
	set("environmentType", req.GetEnvironmentType())
	set("state", req.GetState())
	set("name", req.GetName())
	set("pageToken", req.GetPageToken())
	if n := req.GetExpiringWithinDays(); n != 0 {
		q.Set("expiringWithinDays", strconv.Itoa(int(n)))
	}
	if n := req.GetPageSize(); n != 0 {
		q.Set("pageSize", strconv.Itoa(int(n)))
	}
	out := &certmgrv1.ListCertificatesResponse{}
	err := c.call(ctx, http.MethodGet, certificatesPath(req.GetAccount(), req.GetProject()), q, nil, out)
	return out, err
}

// ListAllCertificates follows next_page_token from the first page to the
// last and returns every certificate that matches req.
func (c *Client) ListAllCertificates(ctx context.Context, req *certmgrv1.ListCertificatesRequest) ([]*certmgrv1.Certificate, error) {
	page := proto.CloneOf(req)
	var all []*certmgrv1.Certificate
	seen := map[string]bool{}
	for {
		resp, err := c.ListCertificates(ctx, page)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetCertificates()...)
		next := resp.GetNextPageToken()
		if next == "" {
			return all, nil
		}
		// A server that hands out a token twice would keep us here forever.
		if seen[next] {
			return nil, fmt.Errorf("certbind at %s returned the page token %q twice; listing stopped", c.baseURL, next)
		}
		seen[next] = true
		page.PageToken = next
	}
}

// GetCertificate describes one certificate (GET .../mtls-certificates/{id}).
func (c *Client) GetCertificate(ctx context.Context, account, project, id string) (*certmgrv1.Certificate, error) {
	out := &certmgrv1.Certificate{}
	err := c.call(ctx, http.MethodGet, certificatePath(account, project, id), nil, nil, out)
	return out, err
}

// UpdateCertificate replaces the environment types of a certificate
// (PATCH .../mtls-certificates/{id}).
func (c *Client) UpdateCertificate(ctx context.Context, req *certmgrv1.UpdateCertificateRequest) (*certmgrv1.Certificate, error) {
	out := &certmgrv1.Certificate{}
	err := c.call(ctx, http.MethodPatch, certificatePath(req.GetAccount(), req.GetProject(), req.GetId()), nil, req, out)
	return out, err
}

// DisableCertificate calls POST .../mtls-certificates/{id}:disable.
func (c *Client) DisableCertificate(ctx context.Context, account, project, id string) (*certmgrv1.Certificate, error) {
	return c.certificateMethod(ctx, account, project, id, "disable")
}

// EnableCertificate calls POST .../mtls-certificates/{id}:enable.
func (c *Client) EnableCertificate(ctx context.Context, account, project, id string) (*certmgrv1.Certificate, error) {
	return c.certificateMethod(ctx, account, project, id, "enable")
}

// certificateMethod posts an empty body to a custom method such as ":disable".
func (c *Client) certificateMethod(ctx context.Context, account, project, id, method string) (*certmgrv1.Certificate, error) {
	out := &certmgrv1.Certificate{}
	err := c.call(ctx, http.MethodPost, certificatePath(account, project, id)+":"+method, nil, &certmgrv1.DisableCertificateRequest{}, out)
	return out, err
}

// DeleteCertificate removes a certificate (DELETE .../mtls-certificates/{id}).
func (c *Client) DeleteCertificate(ctx context.Context, account, project, id string) (*certmgrv1.DeleteCertificateResponse, error) {
	out := &certmgrv1.DeleteCertificateResponse{}
	err := c.call(ctx, http.MethodDelete, certificatePath(account, project, id), nil, nil, out)
	return out, err
}

// RotateCertificate replaces a certificate's material as its next version
// (POST .../mtls-certificates/{id}:rotate).
func (c *Client) RotateCertificate(ctx context.Context, req *certmgrv1.RotateCertificateRequest) (*certmgrv1.Certificate, error) {
	out := &certmgrv1.Certificate{}
	err := c.call(ctx, http.MethodPost, certificatePath(req.GetAccount(), req.GetProject(), req.GetId())+":rotate", nil, req, out)
	return out, err
}

// CreateAPIKey issues a key for an account (POST /v1/accounts/{account}/api-keys).
func (c *Client) CreateAPIKey(ctx context.Context, req *certmgrv1.CreateApiKeyRequest) (*certmgrv1.CreateApiKeyResponse, error) {
	out := &certmgrv1.CreateApiKeyResponse{}
	err := c.call(ctx, http.MethodPost, pathf("/v1/accounts/%s/api-keys", req.GetAccount()), nil, req, out)
	return out, err
}

// ListCertificateReferences lists the deployments that use a certificate
// (GET .../mtls-certificates/{id}/references).
func (c *Client) ListCertificateReferences(ctx context.Context, account, project, id string) (*certmgrv1.ListCertificateReferencesResponse, error) {
	out := &certmgrv1.ListCertificateReferencesResponse{}
	err := c.call(ctx, http.MethodGet, certificatePath(account, project, id)+"/references", nil, nil, out)
	return out, err
}

func deploymentsPath(account, project string) string {
	return pathf("/v1/accounts/%s/projects/%s/deployments", account, project)
}

func deploymentPath(account, project, id string) string {
	return deploymentsPath(account, project) + pathf("/%s", id)
}

// Deploy records a gateway config as an environment's deployment
// (POST .../deployments).
func (c *Client) Deploy(ctx context.Context, req *deploytrackerv1.DeployRequest) (*deploytrackerv1.Deployment, error) {
	out := &deploytrackerv1.Deployment{}
	err := c.call(ctx, http.MethodPost, deploymentsPath(req.GetAccount(), req.GetProject()), nil, req, out)
	return out, err
}

// ListDeployments lists a project's deployments, or only the one of
// req.Environment when it is set (GET .../deployments).
func (c *Client) ListDeployments(ctx context.Context, req *deploytrackerv1.ListDeploymentsRequest) (*deploytrackerv1.ListDeploymentsResponse, error) {
	q := url.Values{}
	if env := req.GetEnvironment(); env != "" {
		q.Set("environment", env)
	}
	out := &deploytrackerv1.ListDeploymentsResponse{}
	err := c.call(ctx, http.MethodGet, deploymentsPath(req.GetAccount(), req.GetProject()), q, nil, out)
	return out, err
}

// GetDeployment describes one deployment (GET .../deployments/{id}).
func (c *Client) GetDeployment(ctx context.Context, account, project, id string) (*deploytrackerv1.Deployment, error) {
	out := &deploytrackerv1.Deployment{}
	err := c.call(ctx, http.MethodGet, deploymentPath(account, project, id), nil, nil, out)
	return out, err
}

// DeleteDeployment removes a deployment (DELETE .../deployments/{id}).
func (c *Client) DeleteDeployment(ctx context.Context, account, project, id string) (*deploytrackerv1.DeleteDeploymentResponse, error) {
	out := &deploytrackerv1.DeleteDeploymentResponse{}
	err := c.call(ctx, http.MethodDelete, deploymentPath(account, project, id), nil, nil, out)
	return out, err
}
