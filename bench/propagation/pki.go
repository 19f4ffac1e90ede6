package propagation

import (
	"fmt"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/testpki"
)

// panicTB lets testpki, which reports failures through a testing.TB, run
// outside a test. testpki only calls Helper and Fatalf; a failure panics
// with pkiError and issue recovers it into an error. Any other method
// panics on the nil embedded TB, which would be a bug here.
type panicTB struct{ testing.TB }

type pkiError struct{ err error }

func (panicTB) Helper() {}

func (panicTB) Fatalf(format string, args ...any) {
	panic(pkiError{fmt.Errorf(format, args...)})
}

// issue returns n client certificates with their keys, signed by one new CA.
func issue(n int) (leaves []*testpki.Cert, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(pkiError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("make benchmark certificates: %w", p.err)
		}
	}()
	ca := testpki.NewCA(panicTB{}, "Propagation Bench Root")
	for i := range n {
		leaves = append(leaves, ca.Issue(panicTB{}, testpki.Options{CommonName: fmt.Sprintf("subscriber-%d.client", i)}))
	}
	return leaves, nil
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
