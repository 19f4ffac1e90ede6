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
	"github.com/certbind/certbind/services/certmgr/seal"
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
	// References is asked before deletes; nil means nothing references
	// certificates.
	References certs.References
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
	store   *store.Store
	hub     *changefeed.Hub[store.Change]
	authn   *auth.Authenticator
	certs   *api.Certificates
	apiKeys *api.APIKeys
	dist    *api.Distribution
	health  *health.Server
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
	authn := auth.NewAuthenticator(cfg.AdminKey, st)
	s := &Service{
		store:   st,
		hub:     hub,
		authn:   authn,
		certs:   api.NewCertificates(m, log),
		apiKeys: api.NewAPIKeys(authn, log, log, now),
		dist:    api.NewDistribution(m, st, hub, cfg.Stream, log),
		health:  health.NewServer(),
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
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.authn.UnaryInterceptor),
		grpc.ChainStreamInterceptor(s.authn.StreamInterceptor),
	}
}

// Register registers certmgr's services, health and reflection on r.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	certmgrv1.RegisterCertificateServiceServer(r, s.certs)
	certmgrv1.RegisterApiKeyServiceServer(r, s.apiKeys)
	certmgrv1.RegisterDistributionServiceServer(r, s.dist)
	healthpb.RegisterHealthServer(r, s.health)
}

// NewGRPCServer returns a gRPC server with certmgr registered on it, plus
// reflection so that grpcurl works. extra options are appended.
func (s *Service) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	srv := grpc.NewServer(append(s.ServerOptions(), extra...)...)
	s.Register(srv)
	reflection.Register(srv)
	return srv
}

// Authenticator is the service's key checker, for servers that share it.
func (s *Service) Authenticator() *auth.Authenticator { return s.authn }

// Revision is the revision of the last committed write.
func (s *Service) Revision() (uint64, error) { return s.store.Revision() }

// Close marks the service not serving and closes the store. Stop the gRPC
// server first (GracefulStop), so no handler touches the store after it
// closes.
func (s *Service) Close() error {
	s.health.Shutdown()
	return s.store.Close()
}
