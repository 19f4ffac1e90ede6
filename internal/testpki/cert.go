package testpki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Options describes a certificate for NewSelfSigned and Cert.Issue. The zero
// value is an ECDSA P-256 client certificate valid from an hour ago for 90 days.
type Options struct {
	CommonName string
	KeyType    KeyType

	// NotBefore and NotAfter default to one hour ago and 90 days from now.
	// The hour of slack keeps a certificate valid on a machine whose clock is
	// a little behind the one that made it.
	NotBefore, NotAfter time.Time

	// ExtKeyUsage defaults to ClientAuth for a leaf and to no extension for a
	// CA. Set NoExtKeyUsage to leave the extension out of a leaf as well.
	ExtKeyUsage   []x509.ExtKeyUsage
	NoExtKeyUsage bool

	// KeyUsage defaults to DigitalSignature for a leaf and to
	// CertSign|CRLSign|DigitalSignature for a CA.
	KeyUsage x509.KeyUsage

	IsCA        bool
	DNSNames    []string
	IPAddresses []net.IP
}

// Cert is a certificate together with its private key and their encodings.
type Cert struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	DER     []byte
	CertPEM []byte // this certificate alone
	KeyPEM  []byte // PKCS#8, "PRIVATE KEY"
}

// NewCA returns a self-signed ECDSA P-256 root CA named cn.
func NewCA(t testing.TB, cn string) *Cert {
	t.Helper()
	return NewSelfSigned(t, Options{CommonName: cn, IsCA: true})
}

// NewSelfSigned returns a certificate that signs itself: a root CA when
// o.IsCA is set, otherwise a self-signed leaf.
func NewSelfSigned(t testing.TB, o Options) *Cert {
	t.Helper()
	key := newKey(t, o.KeyType)
	return create(t, o, key, nil, key)
}

// Issue returns a new certificate described by o and signed by c, which must
// be a CA. Set o.IsCA to make an intermediate.
func (c *Cert) Issue(t testing.TB, o Options) *Cert {
	t.Helper()
	if !c.Cert.IsCA {
		t.Fatalf("testpki: %q is not a CA and cannot issue %q", c.Cert.Subject.CommonName, o.CommonName)
	}
	return create(t, o, newKey(t, o.KeyType), c.Cert, c.Key)
}

// create builds the template from o and signs it. A nil parent means
// self-signed.
func create(t testing.TB, o Options, key crypto.Signer, parent *x509.Certificate, signer crypto.Signer) *Cert {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              o.KeyUsage,
		ExtKeyUsage:           o.ExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPAddresses,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(90 * 24 * time.Hour)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if o.IsCA {
			tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
	}
	if tmpl.ExtKeyUsage == nil && !o.IsCA && !o.NoExtKeyUsage {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if o.NoExtKeyUsage {
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("testpki: create certificate %q: %v", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse certificate %q: %v", o.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: marshal key of %q: %v", o.CommonName, err)
	}
	return &Cert{
		Cert:    cert,
		Key:     key,
		DER:     der,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// randomSerial returns a positive 128-bit serial number. Random serials keep
// two certificates made in the same test from sharing an issuer and serial,
// which TLS stacks treat as the same certificate.
func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testpki: serial number: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

// ChainPEM concatenates the PEM encodings of certs in the order given, which
// for an upload is the leaf first and then its issuers.
func ChainPEM(certs ...*Cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.CertPEM...)
	}
	return out
}
