package storebench

import (
	"fmt"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/testpki"
)

// panicTB lets testpki, which reports failures through a testing.TB, run
// outside a test. testpki only calls Helper and Fatalf; a failure panics
// with pkiError and upload recovers it into an error. Any other method
// panics on the nil embedded TB, which would be a bug here.
type panicTB struct{ testing.TB }

type pkiError struct{ err error }

func (panicTB) Helper() {}

func (panicTB) Fatalf(format string, args ...any) {
	panic(pkiError{fmt.Errorf(format, args...)})
}

// upload returns a valid create request for a new client certificate. Every
// create reuses it under another name: what the store must keep unique is
// the name, and making a key per create would measure key generation.
func upload() (req *certmgrv1.CreateCertificateRequest, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(pkiError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("make the benchmark certificate: %w", p.err)
		}
	}()
	leaf := testpki.NewCA(panicTB{}, "Store Bench Root").Issue(panicTB{}, testpki.Options{CommonName: "storebench.client"})
	return &certmgrv1.CreateCertificateRequest{
		Account:          "bench",
		Project:          "store",
		EnvironmentTypes: []string{"production"},
		CertificatePem:   string(leaf.CertPEM),
		PrivateKeyPem:    string(leaf.KeyPEM),
	}, nil
}
