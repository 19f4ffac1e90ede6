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
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/backupapi"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/internal/serve"
	backupv1 "github.com/certbind/certbind/proto/certbind/backup/v1"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/api"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/etcdstore"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// Config configures certmgr.
type Config struct {
	// DataDir holds certmgr.db. It is created (0700) when missing. Not
	// used with Etcd.
	DataDir string
	// Etcd, when not nil, is the etcd cluster the certificates and API
	// keys are kept in (under EtcdPrefix) instead of a bbolt file, so that
	// several replicas serve the same data. The client stays the caller's.
	Etcd *clientv3.Client
	// EtcdPrefix is the prefix of certmgr's keys in etcd, e.g.
	// "/certbind/certmgr/".
	EtcdPrefix string
	// MasterKeyFile holds the key-encryption key (64 hex characters, mode
	// 0600). It must live outside the database; keep it off the same backup.
	MasterKeyFile string
	// CreateMasterKey creates MasterKeyFile when it does not exist and the
	// data dir is new, holding no certificate and no check value (for
	// `certbind dev`). Over existing data a missing file is always an error
	// naming the file to restore. Either way New refuses a key that does not
	// open the store's check value.
	CreateMasterKey bool
	// AdminKey is the admin API key. Empty means no admin key; a key shorter
	// than auth.MinAdminKeyLen characters is refused.
	AdminKey string
	// ServiceKey authenticates other certbind services (the deploytracker).
	// Empty means none may call the internal services.
	ServiceKey string
	// References is asked before deletes, usually deployrefs.New on a
	// connection to the deploytracker; nil means nothing references
	// certificates.
	References certs.References
	// DeployAudit is the deploytracker's part of the audit trail, merged
	// into certmgr's listing; usually its AuditService client on the
	// connection References uses. nil lists certmgr's part only.
	DeployAudit api.AuditSource
	// ResumeInterval is how often deletes interrupted by a crash or an
	// unreachable deploytracker are retried by Run. Default 30s.
	ResumeInterval time.Duration
	// Logger receives operational and audit lines. nil discards them.
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
	// Tracer records a span per certificate store transaction (see
	// internal/tracing); nil records none.
	Tracer trace.TracerProvider
	// LastUsedInterval is how often Run writes when API keys were last
	// used (one transaction for all of them). Default 1m; Close writes too.
	LastUsedInterval time.Duration

	// Webhooks tunes webhook deliveries: the egress policy for receivers,
	// whether http to loopback is accepted, retries and bounds. certmgr
	// fills in its data dir or etcd prefix, store, sealer, clock and
	// logger. Webhooks are kept in webhooks.db next to certmgr.db, or on
	// etcd under EtcdPrefix webhooks/, where the replicas elect one to
	// dispatch.
	Webhooks webhook.Config

	// ReplicaName names this replica to the others on etcd, in the errors
	// of a master-key rotation (which replica lacks the next key); the
	// default is the host name and the process id. Not used on bbolt.
	ReplicaName string

	// keyFollowInterval is masterkey.SharedConfig.Interval, for tests.
	keyFollowInterval time.Duration
	// rotationStep is masterkey.Config.Step, for tests that cut a
	// master-key rotation off at each step.
	rotationStep func(step string) error
	// rotationBatch is masterkey.Config.Batch.
	rotationBatch int
}

// Service is a running certmgr, ready to be registered on a gRPC server.
type Service struct {
	store    backend
	bolt     *store.Store // nil on etcd
	sealer   *seal.Sealer
	authn    *auth.Authenticator
	manager  *certs.Manager
	certs    *api.Certificates
	apiKeys  *api.APIKeys
	dist     *api.Distribution
	internal *api.Internal
	verify   *api.Verify
	keys     masterkey.Rotation
	keysAPI  *api.MasterKey
	health   *health.Server
	log      *slog.Logger
	resume   time.Duration
	lastUsed time.Duration
	figures  *figures
	audit    *api.Audit
	webhooks *webhook.Dispatcher

	// streamsPerConn is the most change streams one connection may hold.
	streamsPerConn int
}

// backend is what the service needs of a store, bbolt's or etcd's. What
// only the bbolt file has (backups as a file copy, master-key rotation's
// walks, scans for metrics, commit statistics) is used only on it.
type backend interface {
	certs.Certificates
	api.CertificateFeed
	auth.KeyStore
	auth.KeyLifecycle
	masterkey.KeyRecords
	Revision() (uint64, error)
	SetPublisher(fn func(store.Entry))
	SetKeyCheck(v []byte) error
	HasCertificates() (bool, error)
	ForEachSealedKey(fn func(c *store.Certificate) error) error
	Close() error
}

// openStore opens the bbolt file under cfg.DataDir, or the etcd store when
// cfg.Etcd is set; bolt is nil on etcd.
func openStore(cfg Config, log *slog.Logger) (st backend, bolt *store.Store, err error) {
	if cfg.Etcd != nil {
		es, err := etcdstore.Open(cfg.Etcd, etcdstore.Options{Prefix: cfg.EtcdPrefix, Window: cfg.Retention, Logger: log, Audit: cfg.AuditRetention})
		return es, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	bs, err := store.Open(filepath.Join(cfg.DataDir, "certmgr.db"), store.Options{Retention: cfg.Retention, Audit: cfg.AuditRetention})
	if err != nil {
		return nil, nil, err
	}
	return bs, bs, nil
}

// New opens the store and builds the services.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" && cfg.Etcd == nil {
		return nil, errors.New("certmgr: no data dir: set --data-dir")
	}
	if cfg.MasterKeyFile == "" {
		return nil, errors.New("certmgr: no master key file: set --master-key-file (create one with `certmgr --init-master-key`)")
	}
	if err := auth.CheckAdminKey(cfg.AdminKey); err != nil {
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	st, bolt, err := openStore(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	sealer, err := loadMasterKey(cfg, st, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	keyFiles := masterkey.Files{Path: cfg.MasterKeyFile}
	var rotating bool
	var staged *seal.Sealer
	if bolt != nil {
		rotating, err = masterkey.Resume(st, sealer, keyFiles, log)
	} else {
		staged, err = masterkey.StageNext(keyFiles, sealer)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	head, err := st.Revision()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	fig := newFigures(now)
	if bolt != nil {
		bolt.SetWriteObserver(func(d time.Duration) { fig.writes.Observe(d.Seconds()) })
	}

	m := certs.New(certs.Config{Store: st, Sealer: sealer, References: cfg.References, Audit: log, Now: now, Tracer: cfg.Tracer})
	admission := changefeed.NewAdmission(cfg.StreamLimits)
	dist := api.NewDistribution(m, st, head, cfg.Stream, admission, log)
	wc := cfg.Webhooks
	wc.DataDir, wc.Sealer, wc.Now, wc.Log, wc.Metrics = cfg.DataDir, sealer, now, log, fig.webhooks
	if bolt != nil {
		wc.Source = bolt
	} else {
		wc.Source, wc.Etcd, wc.EtcdPrefix = st.(webhook.Source), cfg.Etcd, cfg.EtcdPrefix
	}
	hooks, err := webhook.New(wc)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	st.SetPublisher(func(e store.Entry) {
		dist.Publish(e)
		fig.published.Inc()
		hooks.Notify()
	})
	if r, ok := st.(restarter); ok {
		r.SetRestarted(dist.Drop)
	}
	if p, ok := st.(progresser); ok {
		p.SetProgress(dist.Progress)
	}
	if err := checkMasterKey(st, sealer, m, cfg.MasterKeyFile, log); err != nil {
		hooks.Close()
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	// Webhook secrets are sealed with the master key too: a rotation seals
	// them again before the previous key retires.
	var rotator masterkey.Rotation
	if bolt != nil {
		rotator = masterkey.New(masterkey.Config{Store: bolt, Ring: sealer, Rewrap: m, Files: keyFiles, Log: log, Rotating: rotating, Step: cfg.rotationStep, Batch: cfg.rotationBatch, Now: now, SealAgain: hooks.SealSecretsAgain})
	} else if rotator, err = sharedRotation(cfg, st, sealer, m, keyFiles, staged, hooks.SealSecretsAgain, log, now); err != nil {
		if hooks != nil {
			hooks.Close()
		}
		st.Close()
		return nil, fmt.Errorf("certmgr: %w", err)
	}
	authn := auth.NewAuthenticator(cfg.AdminKey, cfg.ServiceKey, st)
	authn.SetClock(now)
	s := &Service{
		store:    st,
		bolt:     bolt,
		authn:    authn,
		manager:  m,
		certs:    api.NewCertificates(m, log),
		apiKeys:  api.NewAPIKeys(authn, m, log, log, now),
		sealer:   sealer,
		dist:     dist,
		internal: api.NewInternal(m, authn, log),
		verify:   api.NewVerify(m, log),
		keys:     rotator,
		keysAPI:  api.NewMasterKey(rotator, m, log, log),
		health:   health.NewServer(),
		log:      log,
		resume:   cfg.ResumeInterval,
		lastUsed: cfg.LastUsedInterval,
		figures:  fig,
		audit:    api.NewAudit(m, cfg.DeployAudit, log),
		webhooks: hooks,
	}
	s.streamsPerConn = admission.Limits().PerConn
	if s.resume <= 0 {
		s.resume = 30 * time.Second
	}
	if s.lastUsed <= 0 {
		s.lastUsed = time.Minute
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(certmgrv1.CertificateService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(certmgrv1.DistributionService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	log.Info("certmgr ready", slog.String("store", st.Path()), slog.Uint64("revision", head))
	return s, nil
}

// loadMasterKey loads the master key file, creating it when cfg asks for
// that and only if the store is new: it holds no certificate and no check
// value. Over existing data a new key would make every sealed private key
// unreadable and seal new ones with a key the old data does not know, so a
// missing file there is an error that says what to restore.
func loadMasterKey(cfg Config, st backend, log *slog.Logger) (*seal.Sealer, error) {
	sealer, err := seal.LoadKeyFile(cfg.MasterKeyFile)
	if !errors.Is(err, fs.ErrNotExist) {
		return sealer, err
	}
	inUse, uerr := storeInUse(st)
	if uerr != nil {
		return nil, uerr
	}
	if inUse {
		return nil, fmt.Errorf("master key file %s is missing, and the database %s cannot be read without it (its private keys are sealed with that key): restore %s from your backup; a new master key is created only for a new, empty data dir",
			cfg.MasterKeyFile, st.Path(), cfg.MasterKeyFile)
	}
	if !cfg.CreateMasterKey {
		return nil, err
	}
	sealer, created, err := seal.LoadOrCreateKeyFile(cfg.MasterKeyFile)
	if created {
		log.Info("created master key file for a new data dir", slog.String("path", cfg.MasterKeyFile))
	}
	return sealer, err
}

// storeInUse reports whether st holds data tied to a master key: a
// certificate, or a check value left by an earlier start.
func storeInUse(st backend) (bool, error) {
	check, err := st.KeyCheck()
	if err != nil || check != nil {
		return check != nil, err
	}
	return st.HasCertificates()
}

// checkMasterKey makes sure sealer is the key st's data is sealed with. A
// store keeps a check value sealed with its key and every start must open
// it. A store from before check values gets one only once its sealed
// private keys have been tried: if none opens, the key is refused; if all
// do, the check value is written; if only some do, the store already holds
// keys sealed with two master keys, which is logged and left undecided
// (those records harm only themselves) rather than bound to either key.
func checkMasterKey(st backend, sealer *seal.Sealer, m *certs.Manager, keyFile string, log *slog.Logger) error {
	wrongKey := fmt.Errorf("master key %s does not open this database (it was sealed with another key): restore the master key file that belongs to this data dir (%s)",
		keyFile, filepath.Dir(st.Path()))
	check, err := st.KeyCheck()
	if err != nil {
		return err
	}
	if check != nil {
		if sealer.VerifyCheck(check) != nil {
			return masterkey.WrongKey(keyFile, sealer.ID(), seal.KeyID(check), filepath.Dir(st.Path()))
		}
		return nil
	}
	var opened, failed int
	var firstFailed string
	err = st.ForEachSealedKey(func(c *store.Certificate) error {
		key, err := m.PrivateKey(c)
		if err != nil {
			if failed == 0 {
				firstFailed = c.ID
			}
			failed++
			return nil
		}
		clear(key)
		opened++
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case failed > 0 && opened == 0:
		return wrongKey
	case failed > 0:
		log.Warn("some private keys in the database do not open with the master key, so they were sealed with another one; no check value was written",
			slog.String("masterKeyFile", keyFile), slog.Int("opened", opened), slog.Int("notOpened", failed), slog.String("firstNotOpened", firstFailed))
		return nil
	}
	check, err = sealer.NewCheck()
	if err != nil {
		return err
	}
	if err := st.SetKeyCheck(check); err != nil {
		return err
	}
	if opened > 0 {
		log.Info("master key checked against the stored private keys; check value written", slog.Int("opened", opened))
	}
	return nil
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
	certmgrv1.RegisterVerifyServiceServer(r, s.verify)
	certmgrv1.RegisterMasterKeyServiceServer(r, s.keysAPI)
	if s.bolt != nil {
		var parts []backupapi.Part
		if s.webhooks != nil {
			parts = append(parts, backupapi.Part{Part: backupv1.BackupPart_BACKUP_PART_WEBHOOKS, Name: "webhooks.db", Source: s.webhooks.BackupFile()})
		}
		certmgrv1.RegisterBackupServiceServer(r, api.NewBackup(s.bolt, s.log, parts...))
	} else {
		certmgrv1.RegisterBackupServiceServer(r, noBackup{})
	}
	certmgrv1.RegisterAuditServiceServer(r, s.audit)
	certmgrv1.RegisterWebhookServiceServer(r, api.NewWebhooks(s.webhooks, s.manager, s.log))
}

// RegisterHealth registers the health service; a server that carries
// several certbind services registers one health service.
func (s *Service) RegisterHealth(r grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(r, s.health)
}

// Run finishes deletes that were interrupted (by a crash, or because the
// deploytracker could not be reached), at start and then every
// ResumeInterval, and writes when API keys were last used every
// LastUsedInterval, until ctx ends. It returns nil when ctx ends.
//
// It also carries out master-key rotations: one a restart cut off, and
// each that MasterKeyService starts. On etcd it returns an error if this
// replica lacks a master key the store has come to need (see
// masterkey.ErrKeyMissing): it must not serve data it cannot open.
func (s *Service) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	keysDone := make(chan struct{})
	var keysErr error
	go func() {
		defer close(keysDone)
		if keysErr = s.keys.Run(ctx); keysErr != nil {
			stop()
		}
	}()
	// Returning only once the rotation has stopped lets the caller close
	// the store after Run without a rotation still writing to it.
	defer func() { <-keysDone }()
	t := time.NewTicker(s.resume)
	defer t.Stop()
	go s.flushLastUsed(ctx)
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		_ = s.webhooks.Run(ctx)
	}()
	defer func() { <-hooksDone }()
	// Followers of revocations must not hold up the server's graceful stop.
	defer s.internal.Stop()
	for {
		n, err := s.manager.ResumeDeletes(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("resuming interrupted deletes failed; will retry", slog.String("error", err.Error()))
		} else if n > 0 {
			s.log.Info("resumed interrupted deletes", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			<-keysDone
			return keysErr
		case <-t.C:
		}
	}
}

// flushLastUsed writes when keys were last used every s.lastUsed until ctx
// ends; Close writes what is left.
func (s *Service) flushLastUsed(ctx context.Context) {
	t := time.NewTicker(s.lastUsed)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.authn.FlushLastUsed(); err != nil {
				s.log.Warn("recording when API keys were last used failed; will retry", slog.String("error", err.Error()))
			}
		}
	}
}

// NewGRPCServer returns a gRPC server with certmgr registered on it, plus
// reflection so that grpcurl works. extra options come before certmgr's
// own, so that interceptors among them (metrics) see every call, those
// authentication refuses included.
func (s *Service) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := append(extra[:len(extra):len(extra)], s.ServerOptions()...)
	opts = append(opts, serve.MaxConcurrentStreams(s.streamsPerConn))
	srv := grpc.NewServer(append(opts, serve.GRPCServerOptions()...)...)
	s.Register(srv)
	s.RegisterHealth(srv)
	reflection.Register(srv)
	return srv
}

// StreamsPerConn is the most change streams the service admits on one
// connection (Config.StreamLimits, defaults filled in); a server that
// carries it bounds its connections' streams with serve.MaxConcurrentStreams.
func (s *Service) StreamsPerConn() int { return s.streamsPerConn }

// MasterKey is the service's master-key rotator.
func (s *Service) MasterKey() masterkey.Rotation { return s.keys }

// Authenticator is the service's key checker, for servers that share it.
func (s *Service) Authenticator() *auth.Authenticator { return s.authn }

// Revision is the revision of the last committed write.
func (s *Service) Revision() (uint64, error) { return s.store.Revision() }

// CommitStats says how the store's writes have been committed since the
// service started: writes committed together in a group count once.
// On etcd, which commits each write itself, they are zero.
func (s *Service) CommitStats() revlog.Stats {
	if s.bolt == nil {
		return revlog.Stats{}
	}
	return s.bolt.CommitStats()
}

// Close marks the service not serving and closes the store. Stop the gRPC
// server first (GracefulStop), so no handler touches the store after it
// closes.
func (s *Service) Close() error {
	s.health.Shutdown()
	if err := s.authn.FlushLastUsed(); err != nil {
		s.log.Warn("recording when API keys were last used failed", slog.String("error", err.Error()))
	}
	if err := s.webhooks.Close(); err != nil {
		s.log.Warn("closing the webhook records failed", slog.String("error", err.Error()))
	}
	return s.store.Close()
}

// Webhooks is the webhook dispatcher.
func (s *Service) Webhooks() *webhook.Dispatcher { return s.webhooks }
