package etcdkv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Flags are the storage flags of certmgr's and the deploytracker's
// binaries: which store, and how to reach etcd when it is etcd.
type Flags struct {
	Store     string
	Endpoints string
	Prefix    string
	CA        string
	Cert      string
	Key       string
}

// DefaultPrefix is --etcd-prefix's default: each service keeps its keys
// under PREFIX/SERVICE/.
const DefaultPrefix = "/certbind/"

// AddFlags adds --store and the --etcd-* flags to fs for service (for
// example "certmgr").
func (f *Flags) AddFlags(fs *flag.FlagSet, service string) {
	fs.StringVar(&f.Store, "store", "bbolt", "where "+service+" keeps its data: bbolt (one file under --data-dir, one process) or etcd (an etcd cluster at --etcd-endpoints, shared by any number of replicas of "+service+")")
	fs.StringVar(&f.Endpoints, "etcd-endpoints", "", "with --store etcd: the etcd members' client addresses, comma-separated (e.g. h1:2379,h2:2379,h3:2379; https:// when the cluster uses TLS)")
	fs.StringVar(&f.Prefix, "etcd-prefix", DefaultPrefix, "with --store etcd: the key prefix of certbind's data; "+service+" keeps its keys under PREFIX"+service+"/, and every replica must use the same prefix")
	fs.StringVar(&f.CA, "etcd-ca", "", "with --store etcd: PEM file of the CA that signed the etcd members' certificates (default: the system roots when TLS is used)")
	fs.StringVar(&f.Cert, "etcd-cert", "", "with --store etcd: PEM file of this replica's client certificate for etcd (with --etcd-key)")
	fs.StringVar(&f.Key, "etcd-key", "", "with --store etcd: PEM file of the private key of --etcd-cert")
}

// Etcd reports whether the flags choose etcd. Check them first.
func (f *Flags) Etcd() bool { return f.Store == "etcd" }

// Check refuses flags that do not make a store.
func (f *Flags) Check() error {
	switch f.Store {
	case "bbolt":
		if f.Endpoints != "" {
			return errors.New("--etcd-endpoints is set but --store is bbolt: add --store etcd to keep the data in etcd")
		}
		return nil
	case "etcd":
	default:
		return fmt.Errorf("--store %q is not a store: use bbolt (the default) or etcd", f.Store)
	}
	if strings.TrimSpace(f.Endpoints) == "" {
		return errors.New("--store etcd needs --etcd-endpoints, the etcd members' client addresses (e.g. 127.0.0.1:2379)")
	}
	if err := CheckPrefix(f.Prefix); err != nil {
		return fmt.Errorf("--etcd-prefix: %w", err)
	}
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("--etcd-cert and --etcd-key go together: set both, or neither")
	}
	return nil
}

// StorePrefix is the prefix of service's keys.
func (f *Flags) StorePrefix(service string) string { return f.Prefix + service + "/" }

// Connect returns a client of the etcd cluster, once a member has answered
// a read within timeout: a service refuses to start on an etcd it cannot
// reach, with an error that says what to check.
func (f *Flags) Connect(ctx context.Context, timeout time.Duration) (*clientv3.Client, error) {
	cfg := clientv3.Config{DialTimeout: timeout, Logger: zap.NewNop()}
	for _, ep := range strings.Split(f.Endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.Endpoints = append(cfg.Endpoints, ep)
		}
	}
	tlsCfg, err := f.tls()
	if err != nil {
		return nil, err
	}
	cfg.TLS = tlsCfg
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd at %s: %w (check --etcd-endpoints)", f.Endpoints, err)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := cli.Get(rctx, f.Prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd at %s did not answer within %v (%v): check that --etcd-endpoints names running etcd members reachable from this host, and that --etcd-ca, --etcd-cert and --etcd-key match the cluster's TLS if it uses TLS", f.Endpoints, timeout, err)
	}
	return cli, nil
}

// tls is the client TLS configuration the flags ask for, nil for none.
func (f *Flags) tls() (*tls.Config, error) {
	if f.CA == "" && f.Cert == "" && !strings.Contains(f.Endpoints, "https://") {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca %s holds no PEM certificate", f.CA)
		}
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert and --etcd-key do not load as a key pair (%v): give the PEM certificate and its private key", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
