// Package deploytracker assembles the deployment tracker: its bbolt store,
// the deploy rules, the deployment change hub and the gRPC services. It
// talks to certmgr over gRPC (with the service key) to check API keys and
// certificates, and certmgr asks it which deployments use a certificate.
//
//	svc, err := deploytracker.New(deploytracker.Config{DataDir: dir, Certmgr: conn, ServiceKey: key})
//	if err != nil { ... }
//	defer svc.Close()
//	srv := svc.NewGRPCServer()
//	go srv.Serve(lis)
package deploytracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/audit"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/serve"
	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/api"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
	"github.com/certbind/certbind/services/deploytracker/store/etcdstore"
)

// DefaultEdgeURL is where `certbind dev` serves deployments.
const DefaultEdgeURL = "http://127.0.0.1:8000"

// Config configures the deploytracker.
type Config struct {
	// DataDir holds deploytracker.db; created (0700) when missing. Not
	// used with Etcd.
	DataDir string
	// Etcd, when not nil, is the etcd cluster the deployments are kept in
	// (under EtcdPrefix) instead of a bbolt file, so that several
	// replicas serve the same data. The client stays the caller's.
	Etcd *clientv3.Client
	// EtcdPrefix is the prefix of the deploytracker's keys in etcd, e.g.
	// "/certbind/deploytracker/".
	EtcdPrefix string
	// Certmgr is a connection to certmgr that carries the service key
	// (auth.BearerCredentials).
	Certmgr grpc.ClientConnInterface
	// ServiceKey is accepted from certmgr's reference checks.
	ServiceKey string
	// EdgeURL is the base of deployment URLs: EdgeURL/account/project/environment.
	EdgeURL string
	// Logger receives operational and audit lines; nil discards them.
	Logger *slog.Logger
	// Retention is the number of changes kept for resuming subscribers.
	Retention int
	// AuditRetention bounds the audit trail; zero fields take audit's
	// defaults (10,000 entries per account, 90 days).
	AuditRetention audit.Retention
	// Stream tunes subscriber buffers and heartbeats.
	Stream changefeed.Options
	// StreamLimits bound the open change streams per key, per connection
	// and in total; zero fields take changefeed's defaults.
	StreamLimits changefeed.Limits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tracer records a span per deployment store write (see
	// internal/tracing); nil records none.
	Tracer trace.TracerProvider
}

// Service is a running deploytracker.
type Service struct {
	store       backend
	verifier    *auth.Remote
	deployments *api.Deployments
	audit       *api.Audit
	references  *api.References
	verify      *api.Verify
	dist        *api.Distribution
	health      *health.Server
	backup      deploytrackerv1.BackupServiceServer
	figures     *figures

	// streamsPerConn is the most change streams one connection may hold.
	streamsPerConn int
}

// backend is what the service needs of a store, bbolt's or etcd's.
type backend interface {
	deploy.Deployments
	api.DeploymentFeed
	Revision() (uint64, error)
	SetPublisher(fn func(store.Entry))
	Close() error
}

// New opens the store, drops deploys that a crash interrupted, and builds
// the services.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" && cfg.Etcd == nil {
		return nil, errors.New("deploytracker: no data dir: set --data-dir")
	}
	if cfg.Certmgr == nil {
		return nil, errors.New("deploytracker: no certmgr connection: set --certmgr-addr")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	edge := strings.TrimSuffix(cfg.EdgeURL, "/")
	if edge == "" {
		edge = DefaultEdgeURL
	}
	fig := newFigures()
	st, backup, err := openStore(cfg, fig, log)
	if err != nil {
		return nil, fmt.Errorf("deploytracker: %w", err)
	}
	t := deploy.New(deploy.Config{Store: st, Certs: certmgrClient{certmgrv1.NewInternalServiceClient(cfg.Certmgr), certmgrv1.NewWebhookServiceClient(cfg.Certmgr)}, Audit: log, Now: cfg.Now, EdgeURL: edge, Tracer: cfg.Tracer})
	if n, err := t.Recover(); err != nil {
		st.Close()
		return nil, fmt.Errorf("deploytracker: drop interrupted deploys: %w", err)
	} else if n > 0 {
		log.Info("dropped deploys interrupted by a crash; they were never acknowledged", slog.Int("count", n))
	}
	head, err := st.Revision()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("deploytracker: %w", err)
	}
	url := func(d *store.Deployment) string {
		return edge + "/" + d.Account + "/" + d.Project + "/" + d.Environment
	}
	admission := changefeed.NewAdmission(cfg.StreamLimits)
	dist := api.NewDistribution(st, head, cfg.Stream, admission, url, log)
	st.SetPublisher(func(e store.Entry) {
		dist.Publish(e)
		fig.published.Inc()
	})
	if r, ok := st.(interface{ SetRestarted(fn func()) }); ok {
		// The feed started its history again: streams catch up from
		// it, and one behind it resyncs.
		r.SetRestarted(dist.Drop)
	}
	if p, ok := st.(interface{ SetProgress(fn func(rev uint64)) }); ok {
		// Heartbeats carry etcd's revision past writes of other keys.
		p.SetProgress(dist.Progress)
	}
	s := &Service{
		store:       st,
		verifier:    auth.NewRemote(cfg.Certmgr, cfg.ServiceKey, 0),
		deployments: api.NewDeployments(t, url, log),
		audit:       api.NewAudit(t, log),
		references:  api.NewReferences(t, log),
		verify:      api.NewVerify(t, log),
		dist:        dist,
		health:      health.NewServer(),
		backup:      backup,
		figures:     fig,
	}
	s.streamsPerConn = admission.Limits().PerConn
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	log.Info("deploytracker ready", slog.String("store", storeName(cfg)), slog.Uint64("revision", head))
	return s, nil
}

// openStore opens the bbolt file under cfg.DataDir, or the etcd store when
// cfg.Etcd is set, and the backup service that goes with it: an etcd
// cluster is backed up with etcd's own snapshots.
func openStore(cfg Config, fig *figures, log *slog.Logger) (backend, deploytrackerv1.BackupServiceServer, error) {
	if cfg.Etcd != nil {
		st, err := etcdstore.Open(cfg.Etcd, etcdstore.Options{Prefix: cfg.EtcdPrefix, Window: cfg.Retention, Logger: log, Audit: cfg.AuditRetention})
		if err != nil {
			return nil, nil, err
		}
		return st, noBackup{}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "deploytracker.db"), store.Options{Retention: cfg.Retention, Audit: cfg.AuditRetention})
	if err != nil {
		return nil, nil, err
	}
	st.SetWriteObserver(func(d time.Duration) { fig.writes.Observe(d.Seconds()) })
	return st, api.NewBackup(st, log), nil
}

func storeName(cfg Config) string {
	if cfg.Etcd != nil {
		return "etcd " + cfg.EtcdPrefix
	}
	return cfg.DataDir
}

// noBackup is the backup service of a store in etcd: the backup of the
// cluster is etcd's (etcdctl snapshot save), of every service at once.
type noBackup struct {
	deploytrackerv1.UnimplementedBackupServiceServer
}

var errBackupOnEtcd = status.Error(codes.FailedPrecondition,
	"this deploytracker keeps its data in etcd: back it up with etcd's snapshots (etcdctl snapshot save), which hold every certbind service's data at once")

func (noBackup) GetBackupInfo(context.Context, *backupv1.GetBackupInfoRequest) (*backupv1.GetBackupInfoResponse, error) {
	return nil, errBackupOnEtcd
}

func (noBackup) Backup(*backupv1.BackupRequest, grpc.ServerStreamingServer[backupv1.BackupResponse]) error {
	return errBackupOnEtcd
}

// Verifier checks API keys by asking certmgr.
func (s *Service) Verifier() auth.Verifier { return s.verifier }

// Register registers the deploytracker's services on r.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	deploytrackerv1.RegisterDeploymentServiceServer(r, s.deployments)
	deploytrackerv1.RegisterReferenceServiceServer(r, s.references)
	deploytrackerv1.RegisterDeploymentDistributionServiceServer(r, s.dist)
	deploytrackerv1.RegisterVerifyServiceServer(r, s.verify)
	deploytrackerv1.RegisterBackupServiceServer(r, s.backup)
	deploytrackerv1.RegisterAuditServiceServer(r, s.audit)
}

// NewGRPCServer returns a gRPC server carrying the deploytracker, health and
// reflection, authenticating every call through certmgr. extra options
// come before its own, so that interceptors among them (metrics) see every
// call, those authentication refuses included.
func (s *Service) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := append(extra[:len(extra):len(extra)], auth.ServerOptions(s.verifier)...)
	opts = append(opts, serve.MaxConcurrentStreams(s.streamsPerConn))
	srv := grpc.NewServer(append(opts, serve.GRPCServerOptions()...)...)
	s.Register(srv)
	healthpb.RegisterHealthServer(srv, s.health)
	reflection.Register(srv)
	return srv
}

// StreamsPerConn is the most change streams the service admits on one
// connection (Config.StreamLimits, defaults filled in); a server that
// carries it bounds its connections' streams with serve.MaxConcurrentStreams.
func (s *Service) StreamsPerConn() int { return s.streamsPerConn }

// Revision is the revision of the last committed change.
func (s *Service) Revision() (uint64, error) { return s.store.Revision() }

// Close stops following certmgr's key revocations and closes the store.
// Stop the gRPC server first.
func (s *Service) Close() error {
	s.health.Shutdown()
	s.verifier.Close()
	return s.store.Close()
}

// certmgrClient is deploy.Certificates over certmgr's InternalService.
type certmgrClient struct {
	c     certmgrv1.InternalServiceClient
	hooks certmgrv1.WebhookServiceClient
}

// DeployRefused tells certmgr's webhooks of a deploy refused because of a
// certificate (deploy.RefusalNotifier).
func (c certmgrClient) DeployRefused(ctx context.Context, account, project, environment, certificateID, certificateName, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.hooks.RecordDeployRefused(ctx, &certmgrv1.RecordDeployRefusedRequest{Account: account, Project: project, Environment: environment,
		CertificateId: certificateID, CertificateName: certificateName, Reason: reason})
	return err
}

func (c certmgrClient) Resolve(ctx context.Context, account, project string, names, ids []string) ([]*certmgrv1.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.c.ResolveCertificates(ctx, &certmgrv1.ResolveCertificatesRequest{Account: account, Project: project, Names: names, Ids: ids})
	if err != nil {
		return nil, err
	}
	return resp.GetCertificates(), nil
}
