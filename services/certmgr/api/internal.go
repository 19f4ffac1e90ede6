package api

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// Internal serves InternalService, for other certbind services.
type Internal struct {
	certmgrv1.UnimplementedInternalServiceServer
	m     *certs.Manager
	authn *auth.Authenticator
	log   *slog.Logger

	stopOnce sync.Once
	stopping chan struct{}
}

// NewInternal returns the InternalService handlers.
func NewInternal(m *certs.Manager, a *auth.Authenticator, log *slog.Logger) *Internal {
	return &Internal{m: m, authn: a, log: log, stopping: make(chan struct{})}
}

// Stop ends the WatchRevocations streams (Unavailable: their followers
// reconnect, to another replica or to this one restarted), so that a
// graceful stop of the server does not wait for them.
func (s *Internal) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

func service(ctx context.Context) error {
	p, err := auth.Caller(ctx)
	if err != nil {
		return err
	}
	return auth.ServiceOnly(p)
}

// Authenticate says what a key may do.
func (s *Internal) Authenticate(ctx context.Context, req *certmgrv1.AuthenticateRequest) (*certmgrv1.AuthenticateResponse, error) {
	if err := service(ctx); err != nil {
		return nil, toStatus(ctx, s.log, "Authenticate", err)
	}
	p, err := s.authn.Authenticate(req.GetKey())
	if err != nil {
		return nil, toStatus(ctx, s.log, "Authenticate", err)
	}
	resp := &certmgrv1.AuthenticateResponse{KeyId: p.KeyID, Role: string(p.Role), Account: p.Account,
		Project: p.Project, EnvironmentTypes: p.EnvironmentTypes}
	if !p.ExpiresAt.IsZero() {
		resp.ExpiresAt = timestamppb.New(p.ExpiresAt)
	}
	return resp, nil
}

// WatchRevocations sends every revoked key id, then ready, then each
// revocation as it happens. A follower that falls too far behind is ended
// with Aborted, and starts over.
func (s *Internal) WatchRevocations(_ *certmgrv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[certmgrv1.WatchRevocationsResponse]) error {
	ctx := stream.Context()
	if err := service(ctx); err != nil {
		return toStatus(ctx, s.log, "WatchRevocations", err)
	}
	// Subscribe before reading the list, so nothing falls between the two.
	ch, stop := s.authn.WatchRevocations()
	defer stop()
	ids, err := s.authn.Revoked()
	if err != nil {
		return toStatus(ctx, s.log, "WatchRevocations", err)
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := stream.Send(&certmgrv1.WatchRevocationsResponse{KeyIds: ids[:n]}); err != nil {
			return err
		}
		ids = ids[n:]
	}
	if err := stream.Send(&certmgrv1.WatchRevocationsResponse{Ready: true}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return toStatus(ctx, s.log, "WatchRevocations", ctx.Err())
		case <-s.stopping:
			return toStatus(ctx, s.log, "WatchRevocations", errStopping)
		case id, ok := <-ch:
			if !ok {
				return toStatus(ctx, s.log, "WatchRevocations", errRevocationsBehind)
			}
			if err := stream.Send(&certmgrv1.WatchRevocationsResponse{KeyIds: []string{id}}); err != nil {
				return err
			}
		}
	}
}

// ResolveCertificates looks certificates up by name or id.
func (s *Internal) ResolveCertificates(ctx context.Context, req *certmgrv1.ResolveCertificatesRequest) (*certmgrv1.ResolveCertificatesResponse, error) {
	if err := service(ctx); err != nil {
		return nil, toStatus(ctx, s.log, "ResolveCertificates", err)
	}
	list, err := s.m.Resolve(req.GetAccount(), req.GetProject(), req.GetNames(), req.GetIds())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ResolveCertificates", err)
	}
	now := s.m.Now()
	out := &certmgrv1.ResolveCertificatesResponse{Certificates: make([]*certmgrv1.Certificate, 0, len(list))}
	for _, c := range list {
		pc := toProto(c, now)
		pc.CertificatePem = "" // not needed to decide a deploy
		// A deploy refuses a damaged certificate, which no edge could use.
		pc.Damaged = s.m.Damage(c)
		// A type being removed is not offered: a deploy that re-checks
		// the certificate during the removal's reference check refuses it
		// (see certs.Manager.SetEnvironmentTypes).
		pc.EnvironmentTypes = certs.DeployableTypes(c)
		out.Certificates = append(out.Certificates, pc)
	}
	return out, nil
}
