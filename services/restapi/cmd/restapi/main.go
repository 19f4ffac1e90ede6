// Command restapi runs the REST facade as its own process, in front of
// certmgr and the deploytracker.
//
//	restapi --listen 127.0.0.1:8080 --certmgr-addr 127.0.0.1:9090 --deploytracker-addr 127.0.0.1:9091
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

	"github.com/certbind/certbind/internal/metrics"
	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/restapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, serve.ErrorLine("restapi", err))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restapi", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP listen address")
	adminListen := fs.String("admin-listen", "127.0.0.1:8081", "address of GET /metrics (keep it on loopback or a private network: /metrics is not authenticated)")
	certmgrAddr := fs.String("certmgr-addr", "", "certmgr's gRPC address, or its replicas' separated by commas (host:port,host:port): calls are spread over the replicas that are up, and reads are repeated on another when one goes away (required)")
	trackerAddr := fs.String("deploytracker-addr", "", "the deploytracker's gRPC address, or its replicas' separated by commas, as --certmgr-addr (required)")
	var tlsFiles peertls.Files
	tlsFiles.AddFlags(fs)
	var traceFlags tracing.Flags
	traceFlags.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr, err := tracing.Start(ctx, traceFlags, "restapi")
	if err != nil {
		return err
	}
	defer tr.Stop()
	serve.TuneGC()
	if *certmgrAddr == "" || *trackerAddr == "" {
		return errors.New("set --certmgr-addr and --deploytracker-addr")
	}
	// The facade forwards each caller's own key; it holds none itself.
	// Its calls are what its metrics count (grpc_client_*): one per REST
	// request that reaches a service, by method and status.
	reg := metrics.New()
	for flag, value := range map[string]string{"--certmgr-addr": *certmgrAddr, "--deploytracker-addr": *trackerAddr} {
		if _, err := peertls.Replicas(flag, value); err != nil {
			return err
		}
	}
	dialOpts := append(reg.DialOptions(), tr.DialOptions()...)
	cm, err := tlsFiles.Dial(*certmgrAddr, "", dialOpts...)
	if err != nil {
		return err
	}
	defer cm.Close()
	dt, err := tlsFiles.Dial(*trackerAddr, "", dialOpts...)
	if err != nil {
		return err
	}
	defer dt.Close()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := restapi.New(ctx, restapi.Config{Certmgr: cm, Deploytracker: dt, Logger: log, Tracing: tr})
	if err != nil {
		return err
	}
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
	log.Info("serving", slog.String("http", "http://"+lis.Addr().String()), slog.String("admin", "http://"+adminLis.Addr().String()))
	return serve.All(ctx, serve.HTTP(restapi.NewServer(h), lis), serve.HTTP(reg.Server(), adminLis))
}
