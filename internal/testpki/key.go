package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// KeyType selects the algorithm and size of a generated key. The zero value
// is ECDSA P-256, the cheapest key to generate that every TLS stack accepts.
type KeyType int

// The key types cover what certbind accepts and, for RSA1024 and ECDSAP521,
// what it must reject.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	ECDSAP521
	RSA2048
	RSA1024
	Ed25519
)

// String returns the name certbind reports for a key of this type, such as
// "ECDSA P-256" or "RSA 2048".
func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA P-256"
	case ECDSAP384:
		return "ECDSA P-384"
	case ECDSAP521:
		return "ECDSA P-521"
	case RSA2048:
		return "RSA 2048"
	case RSA1024:
		return "RSA 1024"
	case Ed25519:
		return "Ed25519"
	}
	return "unknown key type"
}

func newKey(t testing.TB, k KeyType) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("testpki: unknown key type %d", int(k))
	}
	if err != nil {
		t.Fatalf("testpki: generate %v key: %v", k, err)
	}
	return key
}

// KeyPEMPKCS1 returns the key as PKCS#1 ("RSA PRIVATE KEY"). It fails the
// test if the key is not RSA.
func (c *Cert) KeyPEMPKCS1(t testing.TB) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: c.pkcs1DER(t)})
}

// KeyPEMSEC1 returns the key as SEC 1 ("EC PRIVATE KEY"). It fails the test
// if the key is not ECDSA.
func (c *Cert) KeyPEMSEC1(t testing.TB) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: c.sec1DER(t)})
}

func (c *Cert) pkcs1DER(t testing.TB) []byte {
	t.Helper()
	key, ok := c.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("testpki: PKCS#1 needs an RSA key, %q has %T", c.Cert.Subject.CommonName, c.Key)
	}
	return x509.MarshalPKCS1PrivateKey(key)
}

func (c *Cert) sec1DER(t testing.TB) []byte {
	t.Helper()
	key, ok := c.Key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("testpki: SEC 1 needs an ECDSA key, %q has %T", c.Cert.Subject.CommonName, c.Key)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: marshal EC key: %v", err)
	}
	return der
}

// pkcs8DER returns the key as unencrypted PKCS#8 DER.
func (c *Cert) pkcs8DER(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatalf("testpki: marshal PKCS#8 key: %v", err)
	}
	return der
}
