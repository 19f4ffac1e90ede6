// Package benchkit holds what the benchmarks share: certmgr run in-process
// on loopback, nearest-rank quantiles, and test certificates made outside a
// test.
package benchkit

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/services/certmgr"
)

// Certmgr is an in-process certmgr with its bbolt store in a work
// directory, serving real gRPC on a loopback port.
type Certmgr struct {
	svc      *certmgr.Service
	srv      *grpc.Server
	Addr     string
	AdminKey string
}

// StartCertmgr starts certmgr with its state in dir.
func StartCertmgr(dir string) (*Certmgr, error) {
	// Two rand.Text values: one is 26 characters, under certmgr's minimum.
	return start(certmgr.Config{
		DataDir:         filepath.Join(dir, "data"),
		MasterKeyFile:   filepath.Join(dir, "master.key"),
		CreateMasterKey: true,
		AdminKey:        rand.Text() + rand.Text(),
	})
}

// StartCertmgrEtcd starts a certmgr replica whose store is the etcd
// cluster of cli, under prefix. Every replica of one store needs the same
// keyFile and adminKey; the first creates keyFile (the prefix must then be
// empty).
func StartCertmgrEtcd(cli *clientv3.Client, prefix, keyFile, adminKey string) (*Certmgr, error) {
	return start(certmgr.Config{
		Etcd:            cli,
		EtcdPrefix:      prefix,
		MasterKeyFile:   keyFile,
		CreateMasterKey: true,
		AdminKey:        adminKey,
	})
}

func start(cfg certmgr.Config) (*Certmgr, error) {
	s := &Certmgr{AdminKey: cfg.AdminKey}
	// The propagation bench subscribes 1,000 streams with the admin key,
	// over its default limit of 64 per key.
	cfg.StreamLimits = changefeed.Limits{PerKey: 8192, Total: 8192}
	svc, err := certmgr.New(cfg)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s.svc, s.srv, s.Addr = svc, svc.NewGRPCServer(), lis.Addr().String()
	go s.srv.Serve(lis)
	return s, nil
}

// Dial opens a new client connection that sends the admin key on every call.
func (s *Certmgr) Dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(s.Addr, append(serve.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: s.AdminKey}))...)
}

// CommitStats says how certmgr's store has committed its writes: writes
// committed together in a group count once.
func (s *Certmgr) CommitStats() revlog.Stats { return s.svc.CommitStats() }

// Close stops the gRPC server, cutting open streams, then closes the store.
func (s *Certmgr) Close() error {
	s.srv.Stop()
	return s.svc.Close()
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1) of sorted: the
// smallest value that at least a q share of the values do not exceed; 0 for
// no values.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Quantiles sorts ds in place and returns its q-quantiles.
func Quantiles(ds []time.Duration, qs ...float64) []time.Duration {
	slices.Sort(ds)
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		out[i] = Quantile(ds, q)
	}
	return out
}

// panicTB is the testing.TB that testpki needs, outside a test: it only
// calls Helper and Fatalf, and the embedded nil interface supplies the rest
// of the method set (calling it would be a bug).
type panicTB struct{ testing.TB }

type pkiFailure struct{ err error }

func (panicTB) Helper() {}

func (panicTB) Fatalf(format string, args ...any) { panic(pkiFailure{fmt.Errorf(format, args...)}) }

// PKI runs fn, which makes certificates with testpki, and turns a failure
// into an error.
func PKI(fn func(t testing.TB)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pkiFailure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("make benchmark certificates: %w", f.err)
		}
	}()
	fn(panicTB{})
	return nil
}

// Revision is the revision of certmgr's last committed write.
func (s *Certmgr) Revision() (uint64, error) { return s.svc.Revision() }

// Logger writes text lines to w, or nowhere when w is nil.
func Logger(w io.Writer) *slog.Logger {
	if w == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// WorkDir returns dir, created if missing, or when dir is empty a new
// temporary directory named after prefix; done removes only the latter.
func WorkDir(dir, prefix string) (path string, done func(), err error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("create the work directory: %w", err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
