package httpbench

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/testpki"
)

// pki is the benchmark's certificates: a CA that signs the backend's
// certificate and one that signs the single client certificate every
// setup presents. All keys are ECDSA P-256.
type pki struct {
	backendCA, backend *testpki.Cert
	clientCA, client   *testpki.Cert
}

// Files in the work directory that the proxies read.
const (
	clientCertFile = "client.crt"
	clientKeyFile  = "client.key"
	backendCAFile  = "backend-ca.crt"
)

func newPKI() (*pki, error) {
	p := &pki{}
	err := benchkit.PKI(func(t testing.TB) {
		p.backendCA, p.clientCA = testpki.NewCA(t, "httpbench backend CA"), testpki.NewCA(t, "httpbench client CA")
		// The backend's certificate names 127.0.0.1 as an IP address for
		// Go clients and "localhost" for nginx, which checks DNS names only.
		p.backend = p.backendCA.Issue(t, testpki.Options{CommonName: "localhost", DNSNames: []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		p.client = p.clientCA.Issue(t, testpki.Options{CommonName: "httpbench client"})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// writeFiles stores what the proxies need in dir.
func (p *pki) writeFiles(dir string) error {
	for name, data := range map[string][]byte{clientCertFile: p.client.CertPEM, clientKeyFile: p.client.KeyPEM, backendCAFile: p.backendCA.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func (p *pki) clientTLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.client.DER}, PrivateKey: p.client.Key, Leaf: p.client.Cert}
}

func (p *pki) backendTLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.backend.DER}, PrivateKey: p.backend.Key, Leaf: p.backend.Cert}
}

func pool(c *testpki.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}
