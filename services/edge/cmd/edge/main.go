// Command edge serves certbind deployments: it follows certmgr's certificate
// stream and the deploytracker's deployment stream and proxies each request
// to its backend over mutual TLS with the route's certificate.
//
//	CERTBIND_EDGE_KEY=... edge --certmgr-addr 127.0.0.1:9090 --deploytracker-addr 127.0.0.1:9091 \
//	    --listen 127.0.0.1:8000 --admin-listen 127.0.0.1:8001
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/edge"
	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/watch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, serve.ErrorLine("edge", err))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "address that serves deployments")
	adminListen := fs.String("admin-listen", "127.0.0.1:8001", "address of GET /v1/status, /healthz and /metrics (keep it on loopback or a private network: /metrics is not authenticated)")
	grpcListen := fs.String("grpc-listen", "", "address of the gRPC StatusService (none when empty)")
	certmgrAddr := fs.String("certmgr-addr", "", "certmgr's gRPC address, or its replicas' separated by commas (host:port,host:port): the edge streams from one replica that is up and resumes on another when it goes away (required)")
	trackerAddr := fs.String("deploytracker-addr", "", "the deploytracker's gRPC address, or its replicas' separated by commas, as --certmgr-addr (required)")
	restAddr := fs.String("rest-addr", "", "the REST facade's address, which routes may not reach (optional; certmgr's and the deploytracker's are refused already)")
	backendTimeout := fs.Duration("backend-timeout", 30*time.Second, "how long to wait for a backend's response headers")
	maxBody := fs.Int64("max-body-bytes", proxy.DefaultMaxBodyBytes, "largest request body the edge forwards (413 above it)")
	var allow, deny egress.Prefixes
	fs.Var(&allow, "backend-allow", "CIDRs routes may reach that are refused by default: only loopback is (e.g. 127.0.0.0/8,::1/128); comma-separated or repeated")
	fs.Var(&deny, "backend-deny", "CIDRs routes may not reach (e.g. 10.0.0.0/8 to keep routes off the internal network); comma-separated or repeated; wins over --backend-allow")
	maxConnsPerBackend := fs.Int("max-conns-per-backend", proxy.DefaultMaxConnsPerBackend, "connections the edge opens to one backend (per account and certificate version), idle and busy; a request over it waits up to --backend-timeout, then gets 503 backend_busy")
	maxConns := fs.Int("max-conns", h1.DefaultMaxConns, "client connections at once, in total (-1: no limit)")
	maxConnsPerIP := fs.Int("max-conns-per-ip", h1.DefaultMaxConnsPerIP, "client connections at once from one address (an IPv6 /64 counts as one; -1: no limit, for an edge behind a load balancer that hides client addresses)")
	bodyTimeout := fs.Duration("body-read-timeout", h1.DefaultBodyReadTimeout, "a request body must bring --min-body-rate bytes per second, measured over windows of this length, or the request is answered 408 and its connection closed (-1s: no limit)")
	minBodyRate := fs.Int("min-body-rate", h1.DefaultMinBodyRate, "bytes per second a request body must arrive at, over each --body-read-timeout window")
	hopID := fs.String("hop-id", "", "this edge's name in the Via field it adds, by which it recognises a request that came round a loop (508); give every instance of one fleet the same id (default: random per process)")
	allowEncodedSlashes := fs.Bool("allow-encoded-slashes", false, "let %2F through inside a path segment, for backends whose identifiers hold it (dot segments, backslashes and %5C are refused either way)")
	cacheDir := fs.String("cache-dir", "", "keep the state this edge last received (deployments, and certificates with their private keys) in DIR, sealed with --cache-key-file, and serve it after a restart while no replica of the control plane answers (none when empty)")
	cacheKeyFile := fs.String("cache-key-file", "", "the cache's own key (64 hex characters, mode 0600), created on first use for a new cache; required with --cache-dir; keep it out of the cache directory's backups")
	cacheMaxBytes := fs.Int64("cache-max-bytes", cache.DefaultMaxBytes, "largest cache file the edge writes or reads; a larger state is not cached (the status and log say so)")
	var scope watch.Scope
	fs.StringVar(&scope.Account, "account", "", "serve only this account's deployments (an edge key allows one account)")
	fs.StringVar(&scope.Project, "project", "", "serve only this project's deployments (needs --account)")
	fs.StringVar(&scope.EnvironmentType, "environment-type", "", "serve only deployments of this environment type")
	var tlsFiles peertls.Files
	tlsFiles.AddFlags(fs)
	var traceFlags tracing.Flags
	traceFlags.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edge --certmgr-addr ADDR --deploytracker-addr ADDR [--listen ADDR]\n\n"+
			"CERTBIND_EDGE_KEY is the edge's key: an edge key (certbind api-key create --account A --role edge)\n"+
			"or the admin key.\n\n"+
			"Routes reach backends through an egress policy: link-local and cloud metadata addresses, the\n"+
			"edge's own listeners and the control plane's addresses are always refused; then --backend-deny,\n"+
			"then --backend-allow; loopback is refused unless allowed; everything else is allowed. A refused\n"+
			"backend is answered 502 backend_refused_by_policy, naming the reason.\n\n"+
			"With --cache-dir the edge keeps what it last received, sealed with --cache-key-file, and a restarted\n"+
			"edge serves it while no replica of the control plane answers; GET /v1/status says per stream\n"+
			"whether its state is from the cache or live and how many seconds stale it is.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := os.Getenv("CERTBIND_EDGE_KEY")
	switch {
	case *certmgrAddr == "" || *trackerAddr == "":
		return errors.New("set --certmgr-addr and --deploytracker-addr")
	case badReplicas("--certmgr-addr", *certmgrAddr) != nil:
		return badReplicas("--certmgr-addr", *certmgrAddr)
	case badReplicas("--deploytracker-addr", *trackerAddr) != nil:
		return badReplicas("--deploytracker-addr", *trackerAddr)
	case key == "":
		return errors.New("CERTBIND_EDGE_KEY is not set: create an edge key with `certbind api-key create --account A --role edge`")
	case *cacheKeyFile != "" && *cacheDir == "":
		return errors.New("--cache-key-file needs --cache-dir (where the cache is kept)")
	case *cacheDir != "" && *cacheKeyFile == "":
		return errors.New("--cache-dir needs --cache-key-file: the cache holds private keys and is sealed with that key (created on first use; keep it out of the cache directory's backups)")
	}
	if err := proxy.CheckHopID(*hopID); err != nil {
		return fmt.Errorf("--hop-id: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	serve.TuneGC()
	tr, err := tracing.Start(ctx, traceFlags, "edge")
	if err != nil {
		return err
	}
	defer tr.Stop()

	// The listeners come first: the egress policy refuses their
	// addresses, ports included.
	lis, err := serve.Listen(ctx, *listen, "--listen")
	if err != nil {
		return err
	}
	adminLis, err := serve.Listen(ctx, *adminListen, "--admin-listen")
	if err != nil {
		return err
	}
	if edge.AdminExposed(adminLis.Addr()) {
		log.Warn("the admin listener (status, metrics) is not on loopback: other hosts can reach it",
			slog.String("addr", adminLis.Addr().String()), slog.String("flag", "--admin-listen"))
	}
	own := []egress.Endpoint{{Flag: "--listen", Addr: lis.Addr().String()}, {Flag: "--admin-listen", Addr: adminLis.Addr().String()}}
	var gl net.Listener
	if *grpcListen != "" {
		if gl, err = serve.Listen(ctx, *grpcListen, "--grpc-listen"); err != nil {
			return err
		}
		own = append(own, egress.Endpoint{Flag: "--grpc-listen", Addr: gl.Addr().String()})
	}
	control := []egress.Endpoint{{Flag: "--certmgr-addr", Addr: *certmgrAddr}, {Flag: "--deploytracker-addr", Addr: *trackerAddr}}
	if *restAddr != "" {
		control = append(control, egress.Endpoint{Flag: "--rest-addr", Addr: *restAddr})
	}
	policy, err := egress.NewPolicy(egress.Config{Allow: allow, Deny: deny, Listeners: own, ControlPlane: control})
	if err != nil {
		return err
	}

	cm, err := tlsFiles.Dial(*certmgrAddr, key)
	if err != nil {
		return err
	}
	defer cm.Close()
	dt, err := tlsFiles.Dial(*trackerAddr, key)
	if err != nil {
		return err
	}
	defer dt.Close()
	e, err := edge.New(edge.Config{Certmgr: cm, Deploytracker: dt, Scope: scope, BackendTimeout: *backendTimeout, MaxBodyBytes: *maxBody,
		StatusKey: key, Logger: log, Egress: policy, Tracing: tr, MaxConnsPerBackend: *maxConnsPerBackend, HopID: *hopID,
		AllowEncodedSlashes: *allowEncodedSlashes,
		Cache:               cache.Config{Dir: *cacheDir, KeyFile: *cacheKeyFile, MaxBytes: *cacheMaxBytes, EdgeKey: key}})
	if err != nil {
		return err
	}
	defer e.Close()

	srv := proxy.NewServer(e.Handler())
	srv.MaxConns, srv.MaxConnsPerIP = *maxConns, *maxConnsPerIP
	srv.BodyReadTimeout, srv.MinBodyRate = *bodyTimeout, *minBodyRate
	srv.OnRefuse = e.Refused
	tasks := []func(context.Context) error{
		e.Run,
		serve.HTTP(srv, lis),
		serve.HTTP(&http.Server{Handler: e.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}, adminLis),
	}
	if gl != nil {
		// No change streams here: the bound is the room for calls.
		gs := grpc.NewServer(append(serve.GRPCServerOptions(), serve.MaxConcurrentStreams(0))...)
		e.RegisterStatus(gs)
		healthpb.RegisterHealthServer(gs, health.NewServer())
		reflection.Register(gs)
		tasks = append(tasks, serve.GRPC(gs, gl))
	}
	log.Info("serving", slog.String("http", "http://"+lis.Addr().String()), slog.String("admin", "http://"+adminLis.Addr().String()))
	return serve.All(ctx, tasks...)
}

// badReplicas says what is wrong with a flag's list of replica addresses.
func badReplicas(flag, value string) error {
	_, err := peertls.Replicas(flag, value)
	return err
}
