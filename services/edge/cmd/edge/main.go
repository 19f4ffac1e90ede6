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
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/certbind/certbind/services/certmgr/peertls"
	"github.com/certbind/certbind/services/certmgr/serve"
	"github.com/certbind/certbind/services/edge"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/watch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "address that serves deployments")
	adminListen := fs.String("admin-listen", "127.0.0.1:8001", "address of GET /v1/status, /healthz and /metrics")
	grpcListen := fs.String("grpc-listen", "", "address of the gRPC StatusService (none when empty)")
	certmgrAddr := fs.String("certmgr-addr", "", "certmgr's gRPC address (required)")
	trackerAddr := fs.String("deploytracker-addr", "", "the deploytracker's gRPC address (required)")
	backendTimeout := fs.Duration("backend-timeout", 30*time.Second, "how long to wait for a backend's response headers")
	maxBody := fs.Int64("max-body-bytes", proxy.DefaultMaxBodyBytes, "largest request body the edge forwards (413 above it)")
	var scope watch.Scope
	fs.StringVar(&scope.Account, "account", "", "serve only this account's deployments (an edge key allows one account)")
	fs.StringVar(&scope.Project, "project", "", "serve only this project's deployments (needs --account)")
	fs.StringVar(&scope.EnvironmentType, "environment-type", "", "serve only deployments of this environment type")
	var tlsFiles peertls.Files
	tlsFiles.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edge --certmgr-addr ADDR --deploytracker-addr ADDR [--listen ADDR]\n\n"+
			"CERTBIND_EDGE_KEY is the edge's key: an edge key (certbind api-key create --account A --role edge)\n"+
			"or the admin key.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := os.Getenv("CERTBIND_EDGE_KEY")
	switch {
	case *certmgrAddr == "" || *trackerAddr == "":
		return errors.New("set --certmgr-addr and --deploytracker-addr")
	case key == "":
		return errors.New("CERTBIND_EDGE_KEY is not set: create an edge key with `certbind api-key create --account A --role edge`")
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	serve.TuneGC()
	e := edge.New(edge.Config{Certmgr: cm, Deploytracker: dt, Scope: scope, BackendTimeout: *backendTimeout, MaxBodyBytes: *maxBody, StatusKey: key, Logger: log})
	defer e.Close()

	lis, err := serve.Listen(ctx, *listen, "--listen")
	if err != nil {
		return err
	}
	adminLis, err := serve.Listen(ctx, *adminListen, "--admin-listen")
	if err != nil {
		return err
	}
	tasks := []func(context.Context) error{
		e.Run,
		serve.HTTP(proxy.NewServer(e.Handler()), lis),
		serve.HTTP(&http.Server{Handler: e.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}, adminLis),
	}
	if *grpcListen != "" {
		gl, err := serve.Listen(ctx, *grpcListen, "--grpc-listen")
		if err != nil {
			return err
		}
		gs := grpc.NewServer(serve.GRPCServerOptions()...)
		e.RegisterStatus(gs)
		healthpb.RegisterHealthServer(gs, health.NewServer())
		reflection.Register(gs)
		tasks = append(tasks, serve.GRPC(gs, gl))
	}
	log.Info("serving", slog.String("http", "http://"+lis.Addr().String()), slog.String("admin", "http://"+adminLis.Addr().String()))
	return serve.All(ctx, tasks...)
}
