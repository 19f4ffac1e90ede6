package testpki

import (
	"crypto/x509"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// PKCS12 returns leaf, its key and chain as a PKCS#12 file protected by
// password, encoded with go-pkcs12's Modern profile (AES-256 and PBKDF2), as
// current OpenSSL and Windows export it. chain may be in any order, which
// PKCS#12 does not prescribe.
func PKCS12(t testing.TB, leaf *Cert, chain []*Cert, password string) []byte {
	t.Helper()
	cas := make([]*x509.Certificate, len(chain))
	for i, c := range chain {
		cas[i] = c.Cert
	}
	der, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, cas, password)
	if err != nil {
		t.Fatalf("testpki: PKCS#12 encode: %v", err)
	}
	return der
}
