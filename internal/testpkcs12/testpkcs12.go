// Package testpkcs12 wraps testpki certificates in PKCS#12 files for
// tests. It is apart from testpki so that the tests of a service that never
// reads PKCS#12 (the edge) do not depend on a PKCS#12 library.
package testpkcs12

import (
	"crypto/x509"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certbind/certbind/internal/testpki"
)

// Encode returns leaf, its key and chain as a PKCS#12 file protected by
// password, encoded with go-pkcs12's Modern profile (AES-256 and PBKDF2), as
// current OpenSSL and Windows export it. chain may be in any order, which
// PKCS#12 does not prescribe.
func Encode(t testing.TB, leaf *testpki.Cert, chain []*testpki.Cert, password string) []byte {
	t.Helper()
	cas := make([]*x509.Certificate, len(chain))
	for i, c := range chain {
		cas[i] = c.Cert
	}
	der, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, cas, password)
	if err != nil {
		t.Fatalf("testpkcs12: encode: %v", err)
	}
	return der
}
