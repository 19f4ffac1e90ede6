// Package certmgr assembles the certificate manager: the bbolt store, the
// sealer for private keys, the change hub and the gRPC services.
//
//	svc, err := certmgr.New(certmgr.Config{DataDir: dir, MasterKeyFile: keyFile, AdminKey: key})
//	if err != nil { ... }
//	defer svc.Close()
//	srv := svc.NewGRPCServer()
//	go srv.Serve(lis)
//
// Close documents the shutdown order.
package certmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/api"
	"github.com/certbind/certbind/services/certmgr/auth"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/changefeed"
	"github.com/certbind/certbind/services/certmgr/revlog"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/serve"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Config configures certmgr.
type Config struct {
	// DataDir holds certmgr.db. It is created (0700) when missing.
	DataDir string
	// MasterKeyFile holds the key-encryption key (64 hex characters, mode
	// 0600). It must live outside the database; keep it off the same backup.
	MasterKeyFile string
	// CreateMasterKey creates MasterKeyFile when it does not exist (for
	// `certbind dev`). Otherwise a missing file is an error.
	CreateMasterKey bool
	// AdminKey is the admin API key. Empty means no admin key.
	AdminKey string
	// ServiceKey authenticates other certbind services (the deploytracker).
	// Empty means none may call the internal services.
	ServiceKey string
	// References is asked before deletes, usually deployrefs.New on a
	// connection to the deploytracker; nil means nothing references
	// certificates.
	References certs.References
	// ResumeInterval is how often deletes interrupted by a crash or an
	// unreachable deploytracker are retried by Run. Default 30s.
	ResumeInterval time.Duration
	// Logger receives operational and audit lines. nil discards them.
	Logger *slog.Logger
	// Retention is the number of changes kept for resuming subscribers.
	Retention int
	// Stream tunes subscriber buffers and heartbeats.
	Stream changefeed.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is a running certmgr, ready to be registered on a gRPC server.
type Service struct {
	store    *store.Store
	hub      *changefeed.Hub[store.Change]
	authn    *auth.Authenticator
	manager  *certs.Manager
	certs    *api.Certificates
	apiKeys  *api.APIKeys
	dist     *api.Distribution
	internal *api.Internal
	health   *health.Server
	log      *slog.Logger
	resume   time.Duration
}

// New opens the store and builds the services.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("certmgr: no data dir: set --data-dir")
	}
	if cfg.MasterKeyFile == "" {
		return nil, errors.New("certmgr: no master key file: set --master-key-file (create one with `certmgr --init-master-key`)")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("certmgr: create data dir: %w", err)
	}
	var sealer *seal.Sealer
	var err error
	if cfg.CreateMasterKey {
		var created bool
		sealer, created, err = seal.LoadOrCreateKeyFile(cfg.MasterKeyFile)
		if created {
			log.Info("created master key file", slog.String("path", cfg.MasterKeyFile))
		}
	} else {
		sealer, err = seal.LoadKeyFile(cfg.MasterKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "certmgr.db"), store.Options{Retention: cfg.Retention})
	if err != nil {
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	head, err := st.Revision()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	hub := changefeed.NewHub[store.Change](head)
	st.SetPublisher(hub.Publish)

	m := certs.New(certs.Config{Store: st, Sealer: sealer, References: cfg.References, Audit: log, Now: now})
	authn := auth.NewAuthenticator(cfg.AdminKey, cfg.ServiceKey, st)
	s := &Service{
		store:    st,
		hub:      hub,
		authn:    authn,
		manager:  m,
		certs:    api.NewCertificates(m, log),
		apiKeys:  api.NewAPIKeys(authn, log, log, now),
		dist:     api.NewDistribution(m, st, hub, cfg.Stream, log),
		internal: api.NewInternal(m, authn, log),
		health:   health.NewServer(),
		log:      log,
		resume:   cfg.ResumeInterval,
	}
	if s.resume <= 0 {
		s.resume = 30 * time.Second
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(certmgrv1.CertificateService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(certmgrv1.DistributionService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	log.Info("certmgr ready", slog.String("dataDir", cfg.DataDir), slog.Uint64("revision", head))
	return s, nil
}

// ServerOptions are the options every gRPC server carrying certmgr needs:
// authentication of every call but health and reflection.
func (s *Service) ServerOptions() []grpc.ServerOption {
	return auth.ServerOptions(s.authn)
}

// Register registers certmgr's services, health and reflection on r.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	certmgrv1.RegisterCertificateServiceServer(r, s.certs)
	certmgrv1.RegisterApiKeyServiceServer(r, s.apiKeys)
	certmgrv1.RegisterDistributionServiceServer(r, s.dist)
	certmgrv1.RegisterInternalServiceServer(r, s.internal)
}

// RegisterHealth registers the health service; a server that carries
// several certbind services registers one health service.
func (s *Service) RegisterHealth(r grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(r, s.health)
}

// Run finishes deletes that were interrupted (by a crash, or because the
// deploytracker could not be reached), at start and then every
// ResumeInterval, until ctx ends. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.resume)
	defer t.Stop()
	for {
		n, err := s.manager.ResumeDeletes(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("resuming interrupted deletes failed; will retry", slog.String("error", err.Error()))
		} else if n > 0 {
			s.log.Info("resumed interrupted deletes", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NewGRPCServer returns a gRPC server with certmgr registered on it, plus
// reflection so that grpcurl works. extra options are appended.
func (s *Service) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := append(s.ServerOptions(), serve.GRPCServerOptions()...)
	srv := grpc.NewServer(append(opts, extra...)...)
	s.Register(srv)
	s.RegisterHealth(srv)
	reflection.Register(srv)
	return srv
}

// Authenticator is the service's key checker, for servers that share it.
func (s *Service) Authenticator() *auth.Authenticator { return s.authn }

// Revision is the revision of the last committed write.
func (s *Service) Revision() (uint64, error) { return s.store.Revision() }

// CommitStats says how the store's writes have been committed since the
// service started: writes committed together in a group count once.
func (s *Service) CommitStats() revlog.Stats { return s.store.CommitStats() }

// Close marks the service not serving and closes the store. Stop the gRPC
// server first (GracefulStop), so no handler touches the store after it
// closes.
func (s *Service) Close() error {
	s.health.Shutdown()
	return s.store.Close()
}
