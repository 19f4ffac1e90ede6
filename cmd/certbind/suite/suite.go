// Package suite runs certbind's parts in one process: certmgr and the
// deploytracker on one gRPC listener and the REST facade on an HTTP
// listener. The parts call each other over loopback gRPC exactly as
// separate processes would (the services with a service key made for this
// run). `certbind dev` and the end-to-end tests use it.
package suite

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"

	"github.com/certbind/certbind/internal/audit"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"google.golang.org/grpc/reflection"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/metrics"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/deployrefs"
	"github.com/certbind/certbind/services/certmgr/webhook"
	"github.com/certbind/certbind/services/deploytracker"
	"github.com/certbind/certbind/services/edge"
	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/restapi"
)

// Config configures a suite.
type Config struct {
	// DataDir holds every part's state: certmgr/ (the bbolt file),
	// master.key (the key-encryption key) and admin.key.
	DataDir string
	// HTTPAddr and GRPCAddr are where the REST facade and certmgr listen.
	// Port 0 picks a free port.
	HTTPAddr, GRPCAddr string
	// AdminKey is the admin key. Empty: read DataDir/admin.key, or create it.
	AdminKey string
	// Logger receives every part's log lines. nil discards them.
	Logger *slog.Logger
	// Stream tunes the stream buffers and heartbeats.
	Stream changefeed.Options
	// EdgeAddr is where the edge serves deployments, EdgeAdminAddr its
	// /v1/status, /healthz and /metrics. Port 0 picks a free port.
	EdgeAddr, EdgeAdminAddr string
	// EdgeRootCAs verifies backends of routes without caCertificate; nil
	// means the system roots.
	EdgeRootCAs *x509.CertPool
	// MetricsAddr is where GET /metrics serves the metrics of certmgr, the
	// deploytracker and the REST facade (the edge's are on its admin
	// listener). Empty or port 0: a free loopback port.
	MetricsAddr string
	// AuditRetention bounds certmgr's audit trail; zero fields take the
	// defaults (10,000 entries per account, 90 days).
	AuditRetention audit.Retention
	// EdgeCacheDir, when set, keeps the edge's state on disk there, sealed
	// with EdgeCacheKeyFile (see package cache); empty: no cache.
	EdgeCacheDir, EdgeCacheKeyFile string
	// Tracing traces REST requests, gRPC calls, certificate store
	// transactions and forwarded edge requests; nil is off.
	Tracing *tracing.Tracing
}

// Suite is a running set of parts.
type Suite struct {
	// HTTPURL is the REST facade's base URL, GRPCAddr the services' gRPC
	// address, EdgeURL where deployments are served, EdgeAdminURL the edge's
	// status and metrics.
	HTTPURL      string
	GRPCAddr     string
	EdgeURL      string
	EdgeAdminURL string
	// MetricsURL serves GET /metrics for certmgr, the deploytracker and
	// the REST facade.
	MetricsURL string
	// AdminKey is the admin key in use; AdminKeyCreated says it was just
	// made and stored in AdminKeyFile.
	AdminKey        string
	AdminKeyFile    string
	AdminKeyCreated bool
	DataDir         string

	certmgr *certmgr.Service
	tracker *deploytracker.Service
	edge    *edge.Edge
	edgeSrv *h1.Server
	admSrv  *http.Server
	edgeLis net.Listener
	admLis  net.Listener
	edgeCon *grpc.ClientConn
	grpcSrv *grpc.Server
	peer    *grpc.ClientConn
	httpSrv *http.Server
	conn    *grpc.ClientConn
	grpcLis net.Listener
	httpLis net.Listener
	metrics *metrics.Registry
	metSrv  *http.Server
	metLis  net.Listener
	log     *slog.Logger
}

// Start opens the stores and starts listening. Call Serve to serve and
// Close to stop.
func Start(ctx context.Context, cfg Config) (s *Suite, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// Every failure below returns a nil Suite: what was started so far is
	// closed through su, which the return does not clear.
	su := &Suite{DataDir: cfg.DataDir, log: log, AdminKeyFile: filepath.Join(cfg.DataDir, "admin.key")}
	s = su
	defer func() {
		if err != nil {
			su.Close()
		}
	}()
	s.AdminKey = cfg.AdminKey
	if s.AdminKey == "" {
		if s.AdminKey, s.AdminKeyCreated, err = loadOrCreateAdminKey(s.AdminKeyFile); err != nil {
			return nil, err
		}
	}
	if s.grpcLis, err = serve.Listen(ctx, cfg.GRPCAddr, "--grpc-addr"); err != nil {
		return nil, err
	}
	if s.metLis, err = serve.Listen(ctx, cfg.MetricsAddr, "--metrics-addr"); err != nil {
		return nil, err
	}
	s.MetricsURL = "http://" + s.metLis.Addr().String()
	// One registry: the parts share this process and its gRPC server. The
	// services' calls to each other and the facade's calls are counted as
	// a client's (grpc_client_*), every call they serve as a server's.
	s.metrics = metrics.New()
	s.GRPCAddr = s.grpcLis.Addr().String()
	// The services reach each other through the listener with a key that
	// lives only as long as this process.
	serviceKey := randomKey()
	if s.peer, err = dialLocal(s.GRPCAddr, append(append(s.metrics.DialOptions(), cfg.Tracing.DialOptions()...), grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: serviceKey}))...); err != nil {
		return nil, fmt.Errorf("connect to the gRPC listener: %w", err)
	}
	s.certmgr, err = certmgr.New(certmgr.Config{
		DataDir:         filepath.Join(cfg.DataDir, "certmgr"),
		MasterKeyFile:   filepath.Join(cfg.DataDir, "master.key"),
		CreateMasterKey: true,
		AdminKey:        s.AdminKey,
		ServiceKey:      serviceKey,
		References:      deployrefs.New(s.peer),
		DeployAudit:     deploytrackerv1.NewAuditServiceClient(s.peer),
		Logger:          log.With(slog.String("service", "certmgr")),
		Stream:          cfg.Stream,
		AuditRetention:  cfg.AuditRetention,
		Tracer:          cfg.Tracing.TracerProvider(),
	})
	if err != nil {
		return nil, err
	}
	if s.edgeLis, err = serve.Listen(ctx, cfg.EdgeAddr, "--edge-addr"); err != nil {
		return nil, err
	}
	s.EdgeURL = "http://" + s.edgeLis.Addr().String()
	if s.admLis, err = serve.Listen(ctx, cfg.EdgeAdminAddr, "--edge-admin-addr"); err != nil {
		return nil, err
	}
	s.EdgeAdminURL = "http://" + s.admLis.Addr().String()
	if s.httpLis, err = serve.Listen(ctx, cfg.HTTPAddr, "--http-addr"); err != nil {
		return nil, err
	}
	s.HTTPURL = "http://" + s.httpLis.Addr().String()
	if edge.AdminExposed(s.admLis.Addr()) {
		log.Warn("the edge's admin listener (status, metrics) is not on loopback: other hosts can reach it",
			slog.String("addr", s.admLis.Addr().String()), slog.String("flag", "--edge-admin-addr"))
	}
	s.tracker, err = deploytracker.New(deploytracker.Config{
		DataDir:        filepath.Join(cfg.DataDir, "deploytracker"),
		Certmgr:        s.peer,
		ServiceKey:     serviceKey,
		EdgeURL:        s.EdgeURL,
		Logger:         log.With(slog.String("service", "deploytracker")),
		Stream:         cfg.Stream,
		AuditRetention: cfg.AuditRetention,
		Tracer:         cfg.Tracing.TracerProvider(),
	})
	if err != nil {
		return nil, err
	}
	// One server carries both; certmgr checks every key itself.
	// Metrics first, so that they count the calls authentication refuses.
	opts := append(append(s.metrics.ServerOptions(), cfg.Tracing.ServerOptions()...), auth.ServerOptions(s.certmgr.Authenticator())...)
	opts = append(opts, serve.MaxConcurrentStreams(s.certmgr.StreamsPerConn()+s.tracker.StreamsPerConn()))
	s.grpcSrv = grpc.NewServer(append(opts, serve.GRPCServerOptions()...)...)
	s.certmgr.Register(s.grpcSrv)
	s.certmgr.RegisterHealth(s.grpcSrv)
	s.tracker.Register(s.grpcSrv)
	reflection.Register(s.grpcSrv)

	// The edge follows the streams with the admin key, as any edge would
	// with its own key, over the same loopback listener.
	if s.edgeCon, err = dialLocal(s.GRPCAddr, grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: s.AdminKey})); err != nil {
		return nil, fmt.Errorf("connect the edge: %w", err)
	}
	// Backends on this machine are what `certbind dev` is for, so loopback
	// is allowed; the suite's own listeners never are.
	policy, err := egress.NewPolicy(egress.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Listeners: []egress.Endpoint{
			{Flag: "--edge-addr", Addr: s.edgeLis.Addr().String()},
			{Flag: "--edge-admin-addr", Addr: s.admLis.Addr().String()},
		},
		ControlPlane: []egress.Endpoint{
			{Flag: "--grpc-addr", Addr: s.GRPCAddr},
			{Flag: "--http-addr", Addr: s.httpLis.Addr().String()},
			{Flag: "--metrics-addr", Addr: s.metLis.Addr().String()},
		},
	})
	if err != nil {
		return nil, err
	}
	// Webhook receivers get the edge's rules: loopback allowed, and
	// http too, for loopback only; the suite's own listeners never.
	if hooks := s.certmgr.Webhooks(); hooks != nil {
		hooks.SetEgress(policy, webhook.URLRules{AllowHTTPLoopback: true})
	}
	if s.edge, err = edge.New(edge.Config{Certmgr: s.edgeCon, Deploytracker: s.edgeCon, RootCAs: cfg.EdgeRootCAs, StatusKey: s.AdminKey,
		Logger: log.With(slog.String("service", "edge")), Egress: policy, Tracing: cfg.Tracing,
		Cache: cache.Config{Dir: cfg.EdgeCacheDir, KeyFile: cfg.EdgeCacheKeyFile, EdgeKey: s.AdminKey}}); err != nil {
		return nil, err
	}
	// The admin listener's /v1/status checks keys as the gRPC server does,
	// so every key sees there what StatusService shows it.
	s.edge.SetAuthenticator(s.certmgr.Authenticator())
	s.edge.RegisterStatus(s.grpcSrv)
	s.edgeSrv = proxy.NewServer(s.edge.Handler())
	s.edgeSrv.OnRefuse = s.edge.Refused
	s.admSrv = &http.Server{Handler: s.edge.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}

	if s.conn, err = dialLocal(s.GRPCAddr, append(s.metrics.DialOptions(), cfg.Tracing.DialOptions()...)...); err != nil {
		return nil, fmt.Errorf("connect to the gRPC listener: %w", err)
	}
	handler, err := restapi.New(ctx, restapi.Config{Certmgr: s.conn, Deploytracker: s.conn, Logger: log.With(slog.String("service", "restapi")), Tracing: cfg.Tracing})
	if err != nil {
		return nil, err
	}
	s.httpSrv = restapi.NewServer(handler)
	s.httpSrv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	s.metrics.MustRegister(s.certmgr.Collectors()...)
	s.metrics.MustRegister(s.tracker.Collectors()...)
	s.metrics.InitServer(s.grpcSrv)
	s.metSrv = s.metrics.Server()
	log.Info("serving metrics", slog.String("url", s.MetricsURL+"/metrics"))
	return s, nil
}

// Serve serves until ctx ends, then shuts down gracefully: HTTP first (so no
// new REST call reaches certmgr), then gRPC, then the stores. It returns nil
// on a clean stop.
func (s *Suite) Serve(ctx context.Context) error {
	errc := make(chan error, 5)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go s.certmgr.Run(runCtx)
	// The edge's last cache write happens as its Run ends; Serve waits for
	// it, so a stopped dev leaves its cache whole and current.
	edgeDone := make(chan struct{})
	go func() { s.edge.Run(runCtx); close(edgeDone) }()
	go func() { errc <- s.grpcSrv.Serve(s.grpcLis) }()
	go func() { errc <- s.edgeSrv.Serve(s.edgeLis) }()
	go func() { errc <- s.admSrv.Serve(s.admLis) }()
	go func() { errc <- s.httpSrv.Serve(s.httpLis) }()
	go func() { errc <- s.metSrv.Serve(s.metLis) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("server stopped: %w", err)
	}
	stopRun()
	<-edgeDone
	s.Close()
	return err
}

// Close stops everything now. Safe to call more than once.
func (s *Suite) Close() error {
	shutdown := func(srv serve.HTTPServer) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
	}
	if s.edgeSrv != nil {
		shutdown(s.edgeSrv)
	}
	if s.admSrv != nil {
		shutdown(s.admSrv)
	}
	// The metrics read the stores, so they stop before the stores close.
	if s.metSrv != nil {
		shutdown(s.metSrv)
	}
	for _, l := range []net.Listener{s.edgeLis, s.admLis, s.metLis} {
		if l != nil {
			l.Close()
		}
	}
	if s.edge != nil {
		s.edge.Close()
	}
	if s.edgeCon != nil {
		s.edgeCon.Close()
	}
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.httpSrv.Shutdown(ctx)
		cancel()
	} else if s.httpLis != nil {
		s.httpLis.Close()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.peer != nil {
		s.peer.Close()
	}
	if s.grpcSrv != nil {
		stopped := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			// Open watch streams only end when their clients go.
			s.grpcSrv.Stop()
		}
	} else if s.grpcLis != nil {
		s.grpcLis.Close()
	}
	var err error
	if s.tracker != nil {
		err = s.tracker.Close()
		s.tracker = nil
	}
	if s.certmgr != nil {
		err = errors.Join(err, s.certmgr.Close())
		s.certmgr = nil
	}
	return err
}

// loadOrCreateAdminKey reads the admin key stored in path, or makes one and
// stores it with mode 0600.
func loadOrCreateAdminKey(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		// It is the admin key: nobody but its owner may read it.
		if info, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("admin key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s",
				path, info.Mode().Perm(), path)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", false, fmt.Errorf("admin key file %s is empty: delete it to get a new key", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin key: %w", err)
	}
	key := randomKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("create admin key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write admin key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write admin key file: %w", err)
	}
	return key, true, f.Close()
}

func randomKey() string {
	var raw [32]byte
	rand.Read(raw[:])
	return "cbk_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
}

// dialLocal connects to the suite's own gRPC listener on loopback, in plain
// text, with the transport options of every certbind client.
func dialLocal(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	return grpc.NewClient(addr, append(serve.GRPCDialOptions(), opts...)...)
}
