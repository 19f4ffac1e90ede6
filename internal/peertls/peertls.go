// Package peertls sets up the connections between certbind's processes:
// mutual TLS from certificate files when they are given (every process
// presents its certificate and requires the other's, signed by one CA), and
// the service key on every call between services.
package peertls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/serve"
)

// Files names this process's certificate and key and the CA that signs
// every certbind process's certificate.
type Files struct {
	Cert, Key, CA string
}

// AddFlags registers --tls-cert, --tls-key and --tls-ca.
func (f *Files) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Cert, "tls-cert", "", "PEM certificate this process presents to its peers (with --tls-key and --tls-ca: mutual TLS between services)")
	fs.StringVar(&f.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.CA, "tls-ca", "", "PEM CA that signed every certbind process's certificate; peers without one are refused")
}

// Enabled reports whether mutual TLS is configured.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

func (f Files) load() (tls.Certificate, *x509.CertPool, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return tls.Certificate{}, nil, errors.New("mutual TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("read --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", f.CA)
	}
	return cert, pool, nil
}

// ServerOption returns the gRPC server option for the configured transport:
// TLS 1.3 requiring a client certificate from the CA, or none.
func (f Files) ServerOption() ([]grpc.ServerOption, error) {
	if !f.Enabled() {
		return nil, nil
	}
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}))}, nil
}

// Dial connects to a peer at addr, over mutual TLS when configured, sending
// key as the bearer on every call when key is not empty; extra options
// (metrics interceptors, say) are added to certbind's own. addr is one
// address or the replicas' separated by commas (see Replicas): calls are
// then spread over the replicas that are up, and reads that meet a replica
// going away are repeated on another.
func (f Files) Dial(addr, key string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	addrs, err := Replicas("address", addr)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if f.Enabled() {
		cert, pool, err := f.load()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13})
	}
	tgt, routing := target(addrs)
	opts := append(serve.GRPCDialOptions(), grpc.WithTransportCredentials(creds))
	opts = append(opts, routing...)
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: key, Secure: f.Enabled()}))
	}
	conn, err := grpc.NewClient(tgt, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}
