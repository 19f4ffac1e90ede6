// Command certmgr runs the certificate manager as its own process: the
// CertificateService, ApiKeyService and DistributionService over gRPC, with
// health and reflection.
//
//	certmgr --init-master-key --master-key-file /etc/certbind/master.key
//	CERTBIND_ADMIN_KEY=... certmgr --data-dir /var/lib/certbind/certmgr --master-key-file /etc/certbind/master.key
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/seal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certmgr:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("certmgr", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9090", "gRPC listen address")
	dataDir := fs.String("data-dir", "", "directory of the bbolt store (required)")
	keyFile := fs.String("master-key-file", "", "key-encryption key file, 64 hex characters, mode 0600; keep it outside the data dir's backups (required)")
	initKey := fs.Bool("init-master-key", false, "create --master-key-file with a fresh key and exit")
	retention := fs.Int("retention", 0, "changes kept for resuming stream subscribers (default 10000)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: certmgr --data-dir DIR --master-key-file FILE [--listen ADDR]\n\n"+
			"The admin API key is read from CERTBIND_ADMIN_KEY.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *initKey {
		if *keyFile == "" {
			return errors.New("--init-master-key needs --master-key-file")
		}
		if err := seal.CreateKeyFile(*keyFile); err != nil {
			return err
		}
		fmt.Printf("created %s (mode 0600)\n", *keyFile)
		return nil
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	svc, err := certmgr.New(certmgr.Config{
		DataDir:       *dataDir,
		MasterKeyFile: *keyFile,
		AdminKey:      os.Getenv("CERTBIND_ADMIN_KEY"),
		Logger:        log,
		Retention:     *retention,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set --listen)", *listen, err)
	}
	srv := svc.NewGRPCServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("serving", slog.String("grpc", lis.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	return nil
}
