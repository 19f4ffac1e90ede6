package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/certbind/certbind/internal/audit"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
)

// Defaults of `certbind dev`.
const (
	DefaultDataDir       = ".certbind"
	DefaultHTTPAddr      = "127.0.0.1:8080"
	DefaultGRPCAddr      = "127.0.0.1:9090"
	DefaultEdgeAddr      = "127.0.0.1:8000"
	DefaultEdgeAdminAddr = "127.0.0.1:8001"
	DefaultMetricsAddr   = "127.0.0.1:8002"
)

type devOptions struct {
	dataDir       string
	httpAddr      string
	grpcAddr      string
	edgeAddr      string
	edgeAdminAddr string
	metricsAddr   string
	logFile       string
	logFormat     string
	auditKeep     int
	auditMaxAge   time.Duration
	cacheDir      string
	cacheKeyFile  string
}

func (o *devOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", DefaultDataDir, "directory for the stores, the master key and the admin key (created 0700; refused if others may enter it or its group may write it)")
	fs.StringVar(&o.httpAddr, "http-addr", DefaultHTTPAddr, "address of the REST API")
	fs.StringVar(&o.grpcAddr, "grpc-addr", DefaultGRPCAddr, "address of the gRPC APIs (certmgr and deploytracker)")
	fs.StringVar(&o.edgeAddr, "edge-addr", DefaultEdgeAddr, "address where the edge serves deployments (the url that deploy prints)")
	fs.StringVar(&o.edgeAdminAddr, "edge-admin-addr", DefaultEdgeAdminAddr, "address of the edge's /v1/status, /healthz and /metrics")
	fs.StringVar(&o.metricsAddr, "metrics-addr", DefaultMetricsAddr, "address of GET /metrics for certmgr, the deploytracker and the REST API (the edge's are on --edge-admin-addr); it names every account's certificates, so keep it on loopback")
	fs.IntVar(&o.auditKeep, "audit-retention", audit.DefaultPerAccount, "audit entries kept per account (certbind audit list); the oldest go first")
	fs.DurationVar(&o.auditMaxAge, "audit-max-age", audit.DefaultMaxAge, "audit entries older than this are dropped")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "keep the edge's last state (deployments, certificates with their private keys) in this directory, sealed, and serve it at the next start until the streams answer (default: no cache, since dev's edge runs in one process with the control plane)")
	fs.StringVar(&o.cacheKeyFile, "cache-key-file", "", "the edge cache's key, created on first use for a new cache (default with --cache-dir: edge-cache.key in --data-dir)")
	fs.StringVar(&o.logFile, "log-file", "", "write the logs (including audit lines) to this file instead of stderr")
	fs.StringVar(&o.logFormat, "log-format", logFormatAuto, "how log lines look: text (time, level, message, key=value), json (one JSON object a line), or auto: text on a terminal, json otherwise")
}

func newDevCmd(g *GlobalOptions) *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole certbind suite on this machine",
		Long: `dev runs certmgr, the deploytracker, the REST API and an edge in one
process, with its state in --data-dir: the bbolt stores, the master key that encrypts
private keys at rest (master.key, mode 0600) and the admin API key
(admin.key, mode 0600).

If CERTBIND_API_KEY (or --api-key) is set, it is the admin key; otherwise
one is generated on the first start, stored in the data dir and printed.
The edge lets routes reach backends on this machine (loopback), which a
standalone edge refuses unless given --backend-allow; it never connects to
the suite's own addresses, link-local or cloud metadata addresses. Its other
safety rules (connection caps, body pacing, path and header policy) have the
standalone edge's defaults: see "The edge's safety rules" in the README.

Logs, including one audit line per write, go to stderr (or --log-file): as
readable text on a terminal, as JSON lines otherwise (--log-format chooses).
Health checks are not logged. With --otlp-endpoint (or
OTEL_EXPORTER_OTLP_ENDPOINT) every REST request, gRPC call, certificate store
transaction and forwarded edge request is traced to that OTLP collector. Once running, dev prints its addresses, how to
run the CLI from this checkout, and the export lines to paste into another
shell. Stop with Ctrl-C: every acknowledged write is already on disk.

--cache-dir gives the edge the sealed on-disk cache a standalone edge keeps
to serve its last state while no replica of the control plane answers
(see docs/operations.md). It is off by default here: dev's edge runs in
the same process as the control plane, so it is never up without it, and
a cache would only be a second copy of every private key on disk.`,
		Example: `  # Start with the defaults (REST on 127.0.0.1:8080, data in ./.certbind):
  certbind dev

  # Somewhere else, with an admin key of your own (at least 32 characters):
  CERTBIND_API_KEY=$(openssl rand -hex 32) certbind dev --data-dir /tmp/cb --http-addr 127.0.0.1:18080 --grpc-addr 127.0.0.1:19090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runDev(ctx context.Context, g *GlobalOptions, o *devOptions, stdout, stderr io.Writer) error {
	// A bad tracing setting is refused before anything is opened.
	tr, err := tracing.Start(ctx, g.Trace, "certbind-dev")
	if err != nil {
		return usageError(err)
	}
	defer tr.Stop()
	// The suite runs every service in this process.
	serve.TuneGC()
	logOut := stderr
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open --log-file: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	log, err := newDevLogger(logOut, o.logFormat)
	if err != nil {
		return err
	}
	if err := checkDevDataDir(o.dataDir, log); err != nil {
		return err
	}
	cacheKey := o.cacheKeyFile
	switch {
	case cacheKey != "" && o.cacheDir == "":
		return errors.New("--cache-key-file needs --cache-dir (where the edge's cache is kept)")
	case o.cacheDir != "" && cacheKey == "":
		cacheKey = filepath.Join(o.dataDir, "edge-cache.key")
	}
	s, err := suite.Start(ctx, suite.Config{
		DataDir:          o.dataDir,
		HTTPAddr:         o.httpAddr,
		GRPCAddr:         o.grpcAddr,
		EdgeAddr:         o.edgeAddr,
		EdgeAdminAddr:    o.edgeAdminAddr,
		MetricsAddr:      o.metricsAddr,
		AdminKey:         g.APIKey,
		Logger:           log,
		AuditRetention:   audit.Retention{PerAccount: o.auditKeep, MaxAge: o.auditMaxAge},
		EdgeCacheDir:     o.cacheDir,
		EdgeCacheKeyFile: cacheKey,
		Tracing:          tr,
	})
	if err != nil {
		return err
	}
	dir, _ := filepath.Abs(o.dataDir)
	wd, _ := os.Getwd()
	b := devBanner{HTTPURL: s.HTTPURL, GRPCAddr: s.GRPCAddr, EdgeURL: s.EdgeURL, EdgeAdminURL: s.EdgeAdminURL, MetricsURL: s.MetricsURL, DataDir: dir,
		AdminKey: s.AdminKey, AdminKeyFile: s.AdminKeyFile, AdminKeyCreated: s.AdminKeyCreated, KeyFromEnv: g.APIKey != ""}
	b.CLI, b.Executable = findCLI(wd)
	if err := b.write(stdout); err != nil {
		s.Close()
		return err
	}
	return s.Serve(ctx)
}
