package api

import (
	"context"
	"log/slog"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// Verify serves VerifyService.
type Verify struct {
	certmgrv1.UnimplementedVerifyServiceServer
	m   *certs.Manager
	log *slog.Logger
}

// NewVerify returns the VerifyService handlers.
func NewVerify(m *certs.Manager, log *slog.Logger) *Verify { return &Verify{m: m, log: log} }

// VerifyCertificates checks every record of the store. Admin only.
func (s *Verify) VerifyCertificates(ctx context.Context, _ *certmgrv1.VerifyCertificatesRequest) (*certmgrv1.VerifyCertificatesResponse, error) {
	if _, err := adminOnly(ctx, "verify the store"); err != nil {
		return nil, toStatus(ctx, s.log, "VerifyCertificates", err)
	}
	r, err := s.m.Verify(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "VerifyCertificates", err)
	}
	out := &certmgrv1.VerifyCertificatesResponse{Certificates: int32(r.Certificates), ApiKeys: int32(r.APIKeys), Changes: int32(r.Changes)}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, &certmgrv1.CertificateFinding{Severity: f.Severity, Check: f.Check,
			Account: f.Account, Project: f.Project, CertificateId: f.CertificateID, CertificateName: f.Name, Message: f.Message})
	}
	s.log.InfoContext(ctx, "store verified", slog.Int64("certificates", r.Certificates), slog.Int("findings", len(r.Findings)))
	return out, nil
}
