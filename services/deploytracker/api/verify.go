package api

import (
	"context"
	"log/slog"

	"github.com/certbind/certbind/internal/auth"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/deploy"
)

// Verify serves VerifyService.
type Verify struct {
	deploytrackerv1.UnimplementedVerifyServiceServer
	t   *deploy.Tracker
	log *slog.Logger
}

// NewVerify returns the VerifyService handlers.
func NewVerify(t *deploy.Tracker, log *slog.Logger) *Verify { return &Verify{t: t, log: log} }

// VerifyDeployments checks every record of the store against certmgr.
// Admin only.
func (s *Verify) VerifyDeployments(ctx context.Context, _ *deploytrackerv1.VerifyDeploymentsRequest) (*deploytrackerv1.VerifyDeploymentsResponse, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := auth.AdminOnly(p, "verify the store"); err != nil {
		return nil, toStatus(ctx, s.log, "VerifyDeployments", err)
	}
	r, err := s.t.Verify(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "VerifyDeployments", err)
	}
	out := &deploytrackerv1.VerifyDeploymentsResponse{Deployments: int32(r.Deployments), References: int32(r.References), DeploysInProgress: int32(r.InProgress), Changes: int32(r.Changes)}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, &deploytrackerv1.DeploymentFinding{Severity: f.Severity, Check: f.Check,
			Account: f.Account, Project: f.Project, Environment: f.Environment, DeploymentId: f.DeploymentID,
			CertificateId: f.CertificateID, CertificateName: f.CertificateName, RoutePath: f.RoutePath, Message: f.Message})
	}
	s.log.InfoContext(ctx, "store verified", slog.Int64("deployments", r.Deployments), slog.Int("findings", len(r.Findings)))
	return out, nil
}
