// Command deploytracker runs the deployment tracker as its own process.
//
//	CERTBIND_SERVICE_KEY=... deploytracker --data-dir /var/lib/certbind/deploytracker \
//	    --certmgr-addr 127.0.0.1:9090 --listen 127.0.0.1:9091
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certbind/certbind/internal/audit"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/metrics"
	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/deploytracker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, serve.ErrorLine("deploytracker", err))
		os.Exit(1)
	}
}

// etcdTimeout bounds the first read from etcd at start.
const etcdTimeout = 5 * time.Second

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("deploytracker", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9091", "gRPC listen address")
	adminListen := fs.String("admin-listen", "127.0.0.1:9191", "address of GET /metrics (keep it on loopback or a private network: /metrics is not authenticated)")
	dataDir := fs.String("data-dir", "", "directory of the bbolt store (required with --store bbolt; created 0700, refused if others may enter it or its group may write it)")
	var storage etcdkv.Flags
	storage.AddFlags(fs, "deploytracker")
	certmgrAddr := fs.String("certmgr-addr", "", "certmgr's gRPC address, or its replicas' separated by commas (host:port,host:port): calls are spread over the replicas that are up, and reads are repeated on another when one goes away (required)")
	edgeURL := fs.String("edge-url", deploytracker.DefaultEdgeURL, "base URL where the edge serves deployments")
	auditPerAccount := fs.Int("audit-retention", audit.DefaultPerAccount, "audit entries kept per account; the oldest go first")
	auditMaxAge := fs.Duration("audit-max-age", audit.DefaultMaxAge, "audit entries older than this are dropped")
	var limits changefeed.Limits
	changefeed.AddLimitFlags(fs, &limits)
	var tlsFiles peertls.Files
	tlsFiles.AddFlags(fs)
	var traceFlags tracing.Flags
	traceFlags.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: deploytracker --data-dir DIR --certmgr-addr ADDR [--listen ADDR]\n"+
			"       deploytracker --store etcd --etcd-endpoints H1:2379,H2:2379 --certmgr-addr ADDR [--listen ADDR]\n\n"+
			"CERTBIND_SERVICE_KEY holds the key the services share (required).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := storage.Check(); err != nil {
		return err
	}
	serve.TuneGC()
	tr, err := tracing.Start(ctx, traceFlags, "deploytracker")
	if err != nil {
		return err
	}
	defer tr.Stop()
	serviceKey := os.Getenv("CERTBIND_SERVICE_KEY")
	switch {
	case *certmgrAddr == "":
		return errors.New("no --certmgr-addr: the deploytracker checks keys and certificates with certmgr")
	case serviceKey == "":
		return errors.New("CERTBIND_SERVICE_KEY is not set: set it to the key certmgr was started with")
	}
	reg := metrics.New()
	if _, err := peertls.Replicas("--certmgr-addr", *certmgrAddr); err != nil {
		return err
	}
	conn, err := tlsFiles.Dial(*certmgrAddr, serviceKey, append(reg.DialOptions(), tr.DialOptions()...)...)
	if err != nil {
		return err
	}
	defer conn.Close()
	serverOpts, err := tlsFiles.ServerOption()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := deploytracker.Config{DataDir: *dataDir, Certmgr: conn, ServiceKey: serviceKey, EdgeURL: *edgeURL, Logger: log, StreamLimits: limits, Tracer: tr.TracerProvider(),
		AuditRetention: audit.Retention{PerAccount: *auditPerAccount, MaxAge: *auditMaxAge}}
	if storage.Etcd() {
		cli, err := storage.Connect(ctx, etcdTimeout)
		if err != nil {
			return err
		}
		defer cli.Close()
		cfg.Etcd, cfg.EtcdPrefix, cfg.DataDir = cli, storage.StorePrefix("deploytracker"), ""
	} else if warning, err := serve.CheckDataDir(*dataDir); err != nil {
		return err
	} else if warning != "" {
		log.Warn(warning)
	}
	svc, err := deploytracker.New(cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	lis, err := serve.Listen(ctx, *listen, "--listen")
	if err != nil {
		return err
	}
	adminLis, err := serve.Listen(ctx, *adminListen, "--admin-listen")
	if err != nil {
		return err
	}
	if serve.Exposed(adminLis.Addr()) {
		log.Warn("the admin listener (metrics) is not on loopback: other hosts can reach it",
			slog.String("addr", adminLis.Addr().String()), slog.String("flag", "--admin-listen"))
	}
	srv := svc.NewGRPCServer(append(append(reg.ServerOptions(), tr.ServerOptions()...), serverOpts...)...)
	reg.InitServer(srv)
	reg.MustRegister(svc.Collectors()...)
	log.Info("serving", slog.String("grpc", lis.Addr().String()), slog.String("admin", "http://"+adminLis.Addr().String()))
	return serve.All(ctx, serve.GRPC(srv, lis), serve.HTTP(reg.Server(), adminLis))
}
