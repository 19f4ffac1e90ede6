package api

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
)

// Certificates serves CertificateService.
type Certificates struct {
	certmgrv1.UnimplementedCertificateServiceServer
	m   *certs.Manager
	log *slog.Logger
	kdf *material.DerivationLimiter
}

// Limits on password-protected uploads running at once: one per CPU in all,
// so that they never take every CPU from the rest of certmgr for long, and
// two per account, so that one account cannot take them all. A request over
// a limit waits up to derivationWait for a slot, a few derivations' time.
const (
	derivationsPerAccount = 2
	derivationWait        = time.Second
)

// NewCertificates returns the CertificateService handlers.
func NewCertificates(m *certs.Manager, log *slog.Logger) *Certificates {
	kdf := material.NewDerivationLimiter(runtime.GOMAXPROCS(0), derivationsPerAccount, derivationWait)
	return &Certificates{m: m, log: log, kdf: kdf}
}

// CreateCertificate uploads a certificate.
func (s *Certificates) CreateCertificate(ctx context.Context, req *certmgrv1.CreateCertificateRequest) (*certmgrv1.CreateCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	release, err := s.acquireDerivation(ctx, "CreateCertificate", req.GetAccount(), req)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := s.m.Create(ctx, actor, certs.CreateInput{
		Account:          req.GetAccount(),
		Project:          req.GetProject(),
		Name:             req.GetName(),
		EnvironmentTypes: req.GetEnvironmentTypes(),
		CA:               req.GetCa(),
		Material:         materialInput(req),
	})
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "CreateCertificate", "certificate.create", actor, certResource(req.GetAccount(), req.GetProject(), "", req.GetName()), err)
	}
	return &certmgrv1.CreateCertificateResponse{Certificate: toProto(c, s.m.Now())}, nil
}

// materialRequest is a request that carries certificate material: an upload
// or a rotation.
type materialRequest interface {
	GetCertificatePem() string
	GetPrivateKeyPem() string
	GetPrivateKeyPassphrase() string
	GetPkcs12() []byte
	GetPkcs12Password() string
}

func materialInput(req materialRequest) material.Input {
	return material.Input{
		CertificatePEM: []byte(req.GetCertificatePem()),
		KeyPEM:         []byte(req.GetPrivateKeyPem()),
		KeyPassphrase:  req.GetPrivateKeyPassphrase(),
		PKCS12:         req.GetPkcs12(),
		PKCS12Password: req.GetPkcs12Password(),
	}
}

// acquireDerivation takes a key derivation slot for an upload that will run
// one (a PKCS#12 file, whose MAC is keyed from its password even when that
// is empty, or an encrypted PEM key) and returns its release. Any other
// upload, and one for an invalid account (refused before parsing), goes
// through without a slot.
func (s *Certificates) acquireDerivation(ctx context.Context, method, account string, req materialRequest) (func(), error) {
	if len(req.GetPkcs12()) == 0 && req.GetPrivateKeyPassphrase() == "" || validate.Account(account) != nil {
		return func() {}, nil
	}
	release, err := s.kdf.Acquire(ctx, account)
	if err != nil {
		return nil, toStatus(ctx, s.log, method, err)
	}
	return release, nil
}

// ListCertificates lists a project's certificates.
func (s *Certificates) ListCertificates(ctx context.Context, req *certmgrv1.ListCertificatesRequest) (*certmgrv1.ListCertificatesResponse, error) {
	if _, err := auth.Manager(ctx, req.GetAccount()); err != nil {
		return nil, err
	}
	list, next, err := s.m.List(certs.ListQuery{
		Account:            req.GetAccount(),
		Project:            req.GetProject(),
		EnvironmentType:    req.GetEnvironmentType(),
		State:              req.GetState(),
		ExpiringWithinDays: req.GetExpiringWithinDays(),
		Name:               req.GetName(),
		PageSize:           req.GetPageSize(),
		PageToken:          req.GetPageToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListCertificates", err)
	}
	now := s.m.Now()
	out := &certmgrv1.ListCertificatesResponse{NextPageToken: next, Certificates: make([]*certmgrv1.Certificate, 0, len(list))}
	for _, c := range list {
		pc := toProto(c, now)
		pc.Damaged = s.m.Damage(c)
		out.Certificates = append(out.Certificates, pc)
	}
	return out, nil
}

// GetCertificate describes one certificate.
func (s *Certificates) GetCertificate(ctx context.Context, req *certmgrv1.GetCertificateRequest) (*certmgrv1.GetCertificateResponse, error) {
	if _, err := auth.Manager(ctx, req.GetAccount()); err != nil {
		return nil, err
	}
	c, err := s.m.Get(req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetCertificate", err)
	}
	pc := toProto(c, s.m.Now())
	pc.Damaged = s.m.Damage(c)
	return &certmgrv1.GetCertificateResponse{Certificate: pc}, nil
}

// UpdateCertificate changes the allowed environment types.
func (s *Certificates) UpdateCertificate(ctx context.Context, req *certmgrv1.UpdateCertificateRequest) (*certmgrv1.UpdateCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	c, err := s.m.SetEnvironmentTypes(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId(), req.GetEnvironmentTypes())
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "UpdateCertificate", "certificate.update", actor, certResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &certmgrv1.UpdateCertificateResponse{Certificate: toProto(c, s.m.Now())}, nil
}

// DisableCertificate disables a certificate.
func (s *Certificates) DisableCertificate(ctx context.Context, req *certmgrv1.DisableCertificateRequest) (*certmgrv1.DisableCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	c, err := s.m.Disable(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "DisableCertificate", "certificate.disable", actor, certResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &certmgrv1.DisableCertificateResponse{Certificate: toProto(c, s.m.Now())}, nil
}

// EnableCertificate enables a certificate.
func (s *Certificates) EnableCertificate(ctx context.Context, req *certmgrv1.EnableCertificateRequest) (*certmgrv1.EnableCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	c, err := s.m.Enable(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "EnableCertificate", "certificate.enable", actor, certResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &certmgrv1.EnableCertificateResponse{Certificate: toProto(c, s.m.Now())}, nil
}

// DeleteCertificate deletes an unreferenced certificate.
func (s *Certificates) DeleteCertificate(ctx context.Context, req *certmgrv1.DeleteCertificateRequest) (*certmgrv1.DeleteCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	c, err := s.m.Delete(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "DeleteCertificate", "certificate.delete", actor, certResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &certmgrv1.DeleteCertificateResponse{Id: c.ID}, nil
}

// RotateCertificate replaces a certificate's material as its next version.
func (s *Certificates) RotateCertificate(ctx context.Context, req *certmgrv1.RotateCertificateRequest) (*certmgrv1.RotateCertificateResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	release, err := s.acquireDerivation(ctx, "RotateCertificate", req.GetAccount(), req)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := s.m.Rotate(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId(), materialInput(req))
	if err != nil {
		return nil, refused(ctx, s.log, s.m, "RotateCertificate", "certificate.rotate", actor, certResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &certmgrv1.RotateCertificateResponse{Certificate: toProto(c, s.m.Now())}, nil
}

// ListCertificateReferences lists the deployments that use a certificate.
func (s *Certificates) ListCertificateReferences(ctx context.Context, req *certmgrv1.ListCertificateReferencesRequest) (*certmgrv1.ListCertificateReferencesResponse, error) {
	if _, err := auth.Manager(ctx, req.GetAccount()); err != nil {
		return nil, err
	}
	refs, err := s.m.References(ctx, req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListCertificateReferences", err)
	}
	out := &certmgrv1.ListCertificateReferencesResponse{References: make([]*certmgrv1.DeploymentReference, 0, len(refs))}
	for _, r := range refs {
		out.References = append(out.References, &certmgrv1.DeploymentReference{
			DeploymentId: r.DeploymentID, Environment: r.Environment, EnvironmentType: r.EnvironmentType, InProgress: r.InProgress,
		})
	}
	return out, nil
}
