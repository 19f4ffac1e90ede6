package storebench

import (
	"testing"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// upload returns a valid create request for a new client certificate. Every
// create reuses it under another name: what the store must keep unique is
// the name, and making a key per create would measure key generation.
func upload() (*certmgrv1.CreateCertificateRequest, error) {
	var leaf *testpki.Cert
	if err := benchkit.PKI(func(t testing.TB) {
		leaf = testpki.NewCA(t, "Store Bench Root").Issue(t, testpki.Options{CommonName: "storebench.client"})
	}); err != nil {
		return nil, err
	}
	return &certmgrv1.CreateCertificateRequest{
		Account:          "bench",
		Project:          "store",
		EnvironmentTypes: []string{"production"},
		CertificatePem:   string(leaf.CertPEM),
		PrivateKeyPem:    string(leaf.KeyPEM),
	}, nil
}
