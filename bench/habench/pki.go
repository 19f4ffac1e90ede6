package habench

import (
	"testing"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// upload returns a valid create request for a new client certificate,
// reused under another name by every create (the store keeps names unique;
// a key per create would measure key generation).
func upload() (*certmgrv1.CreateCertificateRequest, error) {
	var leaf *testpki.Cert
	if err := benchkit.PKI(func(t testing.TB) {
		leaf = testpki.NewCA(t, "HA Bench Root").Issue(t, testpki.Options{CommonName: "habench.client"})
	}); err != nil {
		return nil, err
	}
	return &certmgrv1.CreateCertificateRequest{
		Account:          "bench",
		Project:          "ha",
		EnvironmentTypes: []string{"production"},
		CertificatePem:   string(leaf.CertPEM),
		PrivateKeyPem:    string(leaf.KeyPEM),
	}, nil
}
