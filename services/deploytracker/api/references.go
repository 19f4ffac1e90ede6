package api

import (
	"context"
	"log/slog"

	"github.com/certbind/certbind/internal/auth"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/deploy"
)

// References serves ReferenceService, for certmgr.
type References struct {
	deploytrackerv1.UnimplementedReferenceServiceServer
	t   *deploy.Tracker
	log *slog.Logger
}

// NewReferences returns the ReferenceService handlers.
func NewReferences(t *deploy.Tracker, log *slog.Logger) *References {
	return &References{t: t, log: log}
}

// ListCertificateReferences lists the deployments that use a certificate.
func (s *References) ListCertificateReferences(ctx context.Context, req *deploytrackerv1.ListCertificateReferencesRequest) (*deploytrackerv1.ListCertificateReferencesResponse, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := auth.ServiceOnly(p); err != nil {
		return nil, toStatus(ctx, s.log, "ListCertificateReferences", err)
	}
	uses, err := s.t.References(req.GetAccount(), req.GetProject(), req.GetCertificateId())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListCertificateReferences", err)
	}
	out := &deploytrackerv1.ListCertificateReferencesResponse{Uses: make([]*deploytrackerv1.DeploymentUse, 0, len(uses))}
	for _, u := range uses {
		out.Uses = append(out.Uses, &deploytrackerv1.DeploymentUse{DeploymentId: u.DeploymentID, Environment: u.Environment, EnvironmentType: u.EnvironmentType, InProgress: u.InProgress})
	}
	return out, nil
}
