package propagation

import (
	"fmt"
	"testing"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// issue returns n client certificates with their keys, signed by one new CA.
func issue(n int) (leaves []*testpki.Cert, err error) {
	err = benchkit.PKI(func(t testing.TB) {
		ca := testpki.NewCA(t, "Propagation Bench Root")
		for i := range n {
			leaves = append(leaves, ca.Issue(t, testpki.Options{CommonName: fmt.Sprintf("subscriber-%d.client", i)}))
		}
	})
	return leaves, err
}

// Every certificate the benchmark writes lives in one project and reaches
// every subscriber (they watch with the admin key and no scope).
const (
	account = "bench"
	project = "fleet"
)

func createRequest(name string, leaf *testpki.Cert) *certmgrv1.CreateCertificateRequest {
	return &certmgrv1.CreateCertificateRequest{
		Account:          account,
		Project:          project,
		Name:             name,
		EnvironmentTypes: []string{"production"},
		CertificatePem:   string(leaf.CertPEM),
		PrivateKeyPem:    string(leaf.KeyPEM),
	}
}

func rotateRequest(id string, leaf *testpki.Cert) *certmgrv1.RotateCertificateRequest {
	return &certmgrv1.RotateCertificateRequest{
		Account:        account,
		Project:        project,
		Id:             id,
		CertificatePem: string(leaf.CertPEM),
		PrivateKeyPem:  string(leaf.KeyPEM),
	}
}
