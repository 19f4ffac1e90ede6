// Package deployrefs answers certmgr's "which deployments use this
// certificate?" by asking the deploytracker's ReferenceService.
package deployrefs

import (
	"context"
	"time"

	"google.golang.org/grpc"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// Client implements certs.References over gRPC. The connection must carry
// the service key.
type Client struct {
	c       deploytrackerv1.ReferenceServiceClient
	timeout time.Duration
}

// New returns a Client on conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{c: deploytrackerv1.NewReferenceServiceClient(conn), timeout: 10 * time.Second}
}

// CertificateReferences lists the deployments, finished or in progress,
// that reference the certificate.
func (c *Client) CertificateReferences(ctx context.Context, account, project, certificateID string) ([]certs.Reference, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.c.ListCertificateReferences(ctx, &deploytrackerv1.ListCertificateReferencesRequest{
		Account: account, Project: project, CertificateId: certificateID,
	}, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	out := make([]certs.Reference, 0, len(resp.GetUses()))
	for _, u := range resp.GetUses() {
		out = append(out, certs.Reference{DeploymentID: u.GetDeploymentId(), Environment: u.GetEnvironment(), EnvironmentType: u.GetEnvironmentType(), InProgress: u.GetInProgress()})
	}
	return out, nil
}
