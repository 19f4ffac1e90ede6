// Command certmgr runs the certificate manager as its own process: the
// CertificateService, ApiKeyService and DistributionService over gRPC, with
// health and reflection.
//
//	certmgr --init-master-key --master-key-file /etc/certbind/master.key
//	CERTBIND_ADMIN_KEY=... CERTBIND_SERVICE_KEY=... certmgr --data-dir /var/lib/certbind/certmgr \
//	    --master-key-file /etc/certbind/master.key --deploytracker-addr 127.0.0.1:9091
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/certmgr/api"

	"github.com/certbind/certbind/internal/audit"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/metrics"
	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/deployrefs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// unreachable is the References of a certmgr started without a
// deploytracker: it cannot know what is referenced, so it refuses deletes
// rather than risk deleting a certificate in use.
type unreachable struct{}

func (unreachable) CertificateReferences(context.Context, string, string, string) ([]certs.Reference, error) {
	return nil, errors.New("no deploytracker configured (start certmgr with --deploytracker-addr)")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, serve.ErrorLine("certmgr", err))
		os.Exit(1)
	}
}

// etcdTimeout bounds the first read from etcd at start.
const etcdTimeout = 5 * time.Second

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("certmgr", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9090", "gRPC listen address")
	adminListen := fs.String("admin-listen", "127.0.0.1:9190", "address of GET /metrics (keep it on loopback or a private network: /metrics is not authenticated and names the certificates of every account)")
	dataDir := fs.String("data-dir", "", "directory of the bbolt store (required with --store bbolt; created 0700, refused if others may enter it or its group may write it)")
	var storage etcdkv.Flags
	storage.AddFlags(fs, "certmgr")
	keyFile := fs.String("master-key-file", "", "key-encryption key file, 64 hex characters, mode 0600; keep it outside the data dir's backups (required). A master-key rotation writes FILE.next and FILE.retired-ID beside it, so certmgr needs to write in its directory to rotate")
	initKey := fs.Bool("init-master-key", false, "create --master-key-file with a fresh key and exit")
	initNext := fs.Bool("next", false, "with --init-master-key: create FILE.next, the key a rotation on --store etcd moves to, instead of FILE; copy it to the same path on every replica and send each SIGHUP (or restart it) before `certbind admin rotate-master-key`")
	replicaName := fs.String("replica-name", "", "with --store etcd: the name this replica gives itself to the others, in rotation errors (default HOST-LISTEN, e.g. web1-10.0.0.5:9090)")
	retention := fs.Int("retention", 0, "changes kept for resuming stream subscribers (default 10000; with --store etcd, in each replica's memory)")
	auditPerAccount := fs.Int("audit-retention", audit.DefaultPerAccount, "audit entries kept per account; the oldest go first")
	auditMaxAge := fs.Duration("audit-max-age", audit.DefaultMaxAge, "audit entries older than this are dropped")
	resume := fs.Duration("resume-interval", 30*time.Second, "how often deletes interrupted by a crash or an unreachable deploytracker are retried")
	tracker := fs.String("deploytracker-addr", "", "the deploytracker's gRPC address, or its replicas' separated by commas (host:port,host:port), asked before every delete; without it deletes are refused")
	var hookAllow, hookDeny egress.Prefixes
	fs.Var(&hookAllow, "webhook-allow", "CIDR ranges webhook receivers may be in although loopback (comma-separated, repeatable), e.g. 127.0.0.0/8 for a local receiver")
	fs.Var(&hookDeny, "webhook-deny", "CIDR ranges webhook receivers may never be in (comma-separated, repeatable), e.g. 10.0.0.0/8; link-local and cloud metadata addresses and certmgr's own listeners are always refused")
	var limits changefeed.Limits
	changefeed.AddLimitFlags(fs, &limits)
	var tlsFiles peertls.Files
	tlsFiles.AddFlags(fs)
	var traceFlags tracing.Flags
	traceFlags.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: certmgr --data-dir DIR --master-key-file FILE --deploytracker-addr ADDR [--listen ADDR]\n"+
			"       certmgr --store etcd --etcd-endpoints H1:2379,H2:2379 --master-key-file FILE --deploytracker-addr ADDR [--listen ADDR]\n\n"+
			"With --store etcd every replica uses the same master key file, etcd prefix and keys.\n"+
			"The admin API key is read from CERTBIND_ADMIN_KEY, the key the services use\n"+
			"between themselves from CERTBIND_SERVICE_KEY (the same value for every service).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := storage.Check(); err != nil {
		return err
	}
	if *initKey {
		if *keyFile == "" {
			return errors.New("--init-master-key needs --master-key-file")
		}
		path := *keyFile
		if *initNext {
			path = masterkey.Files{Path: *keyFile}.Next()
		}
		if err := seal.CreateKeyFile(path); err != nil {
			return err
		}
		fmt.Printf("created %s (mode 0600)\n", path)
		if *initNext {
			fmt.Printf("copy it to %s on every certmgr replica, send each SIGHUP (or restart them one at a time), then run `certbind admin rotate-master-key`\n", path)
		}
		return nil
	}
	if *initNext {
		return errors.New("--next goes with --init-master-key")
	}
	serve.TuneGC()
	tr, err := tracing.Start(ctx, traceFlags, "certmgr")
	if err != nil {
		return err
	}
	defer tr.Stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	serviceKey := os.Getenv("CERTBIND_SERVICE_KEY")
	reg := metrics.New()
	var refs certs.References = unreachable{}
	var deployAudit api.AuditSource
	if *tracker != "" {
		if serviceKey == "" {
			return errors.New("--deploytracker-addr needs CERTBIND_SERVICE_KEY, the key the services share")
		}
		if _, err := peertls.Replicas("--deploytracker-addr", *tracker); err != nil {
			return err
		}
		conn, err := tlsFiles.Dial(*tracker, serviceKey, append(reg.DialOptions(), tr.DialOptions()...)...)
		if err != nil {
			return err
		}
		defer conn.Close()
		refs = deployrefs.New(conn)
		deployAudit = deploytrackerv1.NewAuditServiceClient(conn)
	}
	serverOpts, err := tlsFiles.ServerOption()
	if err != nil {
		return err
	}
	cfg := certmgr.Config{
		DataDir:        *dataDir,
		MasterKeyFile:  *keyFile,
		AdminKey:       os.Getenv("CERTBIND_ADMIN_KEY"),
		ServiceKey:     serviceKey,
		References:     refs,
		DeployAudit:    deployAudit,
		Logger:         log,
		Retention:      *retention,
		AuditRetention: audit.Retention{PerAccount: *auditPerAccount, MaxAge: *auditMaxAge},
		ResumeInterval: *resume,
		StreamLimits:   limits,
		Tracer:         tr.TracerProvider(),
	}
	if storage.Etcd() {
		cli, err := storage.Connect(ctx, etcdTimeout)
		if err != nil {
			return err
		}
		defer cli.Close()
		cfg.Etcd, cfg.EtcdPrefix, cfg.DataDir = cli, storage.StorePrefix("certmgr"), ""
		cfg.ReplicaName = *replicaName
		if cfg.ReplicaName == "" {
			cfg.ReplicaName = defaultReplicaName(*listen)
		}
	} else if warning, err := serve.CheckDataDir(*dataDir); err != nil {
		return err
	} else if warning != "" {
		log.Warn(warning)
	}
	svc, err := certmgr.New(cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if storage.Etcd() {
		// SIGHUP reads a next master key file put beside the key file
		// since the start (a rotation on etcd needs it on every replica).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if id, err := svc.ReloadNextKey(); err != nil {
						log.Error("reading the next master key file failed", slog.String("error", err.Error()))
					} else if id == "" {
						log.Warn("SIGHUP: no next master key file", slog.String("path", masterkey.Files{Path: *keyFile}.Next()))
					} else {
						log.Info("SIGHUP: this replica holds the next master key", slog.String("nextKeyId", id))
					}
				}
			}
		}()
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
	if hooks := svc.Webhooks(); hooks != nil {
		// certmgr's listeners are given as listeners, so that one on
		// 0.0.0.0 stands for every local address.
		policy, err := egress.NewPolicy(egress.Config{Allow: hookAllow, Deny: hookDeny,
			Listeners: []egress.Endpoint{
				{Flag: "--listen", Addr: lis.Addr().String()},
				{Flag: "--admin-listen", Addr: adminLis.Addr().String()},
			},
			ControlPlane: []egress.Endpoint{{Flag: "--deploytracker-addr", Addr: *tracker}}})
		if err != nil {
			return err
		}
		hooks.SetEgress(policy, webhook.URLRules{})
	}
	srv := svc.NewGRPCServer(append(append(reg.ServerOptions(), tr.ServerOptions()...), serverOpts...)...)
	reg.InitServer(srv)
	reg.MustRegister(svc.Collectors()...)
	log.Info("serving", slog.String("grpc", lis.Addr().String()), slog.String("admin", "http://"+adminLis.Addr().String()))
	return serve.All(ctx, svc.Run, serve.GRPC(srv, lis), serve.HTTP(reg.Server(), adminLis))
}

// defaultReplicaName is the host's name and the listen address, which tell
// an operator which replica an error names.
func defaultReplicaName(listen string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "certmgr"
	}
	return strings.ReplaceAll(host+"-"+listen, "/", "_")
}
