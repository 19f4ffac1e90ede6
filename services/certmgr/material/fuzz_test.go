package material

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
)

// The fuzz targets check the promises that hold for any input: no panic,
// every failure is an *Error that quotes no PEM or DER content, and accepted
// material is consistent (the key belongs to the leaf, the normalized PEM
// parses back to the same chain).

func FuzzParseClient(f *testing.F) {
	p := newPKI(f)
	rsaLeaf := p.inter.Issue(f, testpki.Options{CommonName: "rsa", KeyType: testpki.RSA2048})
	edLeaf := p.inter.Issue(f, testpki.Options{CommonName: "ed", KeyType: testpki.Ed25519})
	chain := testpki.ChainPEM(p.leaf, p.inter)
	f.Add(chain, p.leaf.KeyPEM, "")
	f.Add(testpki.ChainPEM(p.leaf, p.inter, p.root), p.leaf.KeyPEMSEC1(f), "")
	f.Add(testpki.ChainPEM(rsaLeaf, p.inter), rsaLeaf.KeyPEMPKCS1(f), "")
	f.Add(testpki.ChainPEM(edLeaf), edLeaf.KeyPEM, "")
	f.Add(chain, p.leaf.EncryptedKeyPEMWith(f, "pw", testpki.PBES2{Iterations: 1}), "pw")
	f.Add(chain, p.leaf.EncryptedKeyPEMWith(f, "pw", testpki.PBES2{Iterations: 2, PRF: crypto.SHA1, AESBits: 128}), "pw")
	f.Add(chain, p.leaf.LegacyEncryptedKeyPEM(f, "pw"), "pw")
	f.Add(testpki.ChainPEM(p.inter, p.leaf), p.leaf.KeyPEM, "")
	f.Add(p.leaf.DER, p.leaf.KeyPEM, "")
	f.Add(chain, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "")
	now := time.Now()

	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte, passphrase string) {
		in := Input{CertificatePEM: certPEM, KeyPEM: keyPEM, KeyPassphrase: passphrase}
		c, err := ParseClient(in, now)
		if err != nil {
			checkFuzzError(t, err, certPEM, keyPEM)
			return
		}
		checkFuzzClient(t, c)
	})
}

func FuzzParseClientPKCS12(f *testing.F) {
	p := newPKI(f)
	f.Add(testpkcs12.Encode(f, p.leaf, []*testpki.Cert{p.inter}, "pw"), "pw")
	f.Add(testpkcs12.Encode(f, p.leaf, []*testpki.Cert{p.root, p.inter}, ""), "")
	now := time.Now()

	f.Fuzz(func(t *testing.T, p12 []byte, password string) {
		c, err := ParseClient(Input{PKCS12: p12, PKCS12Password: password}, now)
		if err != nil {
			checkFuzzError(t, err, p12)
			return
		}
		checkFuzzClient(t, c)
	})
}

func FuzzParseCA(f *testing.F) {
	p := newPKI(f)
	f.Add(testpki.ChainPEM(p.inter, p.root))
	f.Add(p.root.CertPEM)
	f.Add(append(p.root.CertPEM, p.root.KeyPEM...))
	f.Add(p.root.DER)
	now := time.Now()

	f.Fuzz(func(t *testing.T, data []byte) {
		ca, err := ParseCA(data, now)
		if err != nil {
			checkFuzzError(t, err, data)
			return
		}
		back, err := parseChainPEMForTest(ca.PEM)
		if err != nil || len(back) != len(ca.Certs) {
			t.Fatalf("normalized PEM does not parse back: %v", err)
		}
		for _, c := range ca.Certs {
			if !c.IsCA {
				t.Fatalf("accepted a non-CA certificate %s", c.Subject)
			}
		}
	})
}

func FuzzDecryptPKCS8(f *testing.F) {
	p := newPKI(f)
	for _, enc := range []testpki.PBES2{{Iterations: 1}, {Iterations: 3, PRF: crypto.SHA512, AESBits: 192, WriteKeyLength: true}} {
		f.Add(pemDERForFuzz(f, p.leaf.EncryptedKeyPEMWith(f, "pw", enc)), "pw")
	}
	f.Fuzz(func(t *testing.T, der []byte, passphrase string) {
		plain, err := decryptPKCS8(der, passphrase)
		if err != nil {
			checkFuzzError(t, err, der)
			return
		}
		if !wellFormedSequence(plain) {
			t.Fatal("returned plaintext that is not a DER SEQUENCE")
		}
	})
}

func checkFuzzError(t *testing.T, err error, inputs ...[]byte) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	switch e.Field {
	case FieldCertificate, FieldKey, FieldPKCS12, FieldPassphrase:
	default:
		t.Fatalf("unknown Field %q", e.Field)
	}
	if e.Msg == "" {
		t.Fatal("empty message")
	}
	assertNoBody(t, e.Msg, inputs...)
}

func checkFuzzClient(t *testing.T, c *Client) {
	t.Helper()
	key, err := x509.ParsePKCS8PrivateKey(c.PrivateKeyDER)
	if err != nil {
		t.Fatalf("accepted key does not re-parse: %v", err)
	}
	pub := key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
	if !pub.Equal(c.Chain[0].PublicKey) {
		t.Fatal("accepted a key that does not match the leaf")
	}
	back, err := parseChainPEMForTest(c.ChainPEM)
	if err != nil || len(back) != len(c.Chain) {
		t.Fatalf("normalized chain does not parse back: %v", err)
	}
	for i := 0; i+1 < len(c.Chain); i++ {
		if !issuedBy(c.Chain[i], c.Chain[i+1]) {
			t.Fatalf("accepted a chain where certificate %d did not issue %d", i+2, i+1)
		}
	}
	sum := sha256.Sum256(c.Chain[0].Raw)
	if c.Info.FingerprintSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("fingerprint is not of the leaf")
	}
}

func parseChainPEMForTest(data []byte) ([]*x509.Certificate, error) {
	blocks, err := certBlocks(data, certFile, "")
	if err != nil {
		return nil, err
	}
	return parseCertificates(blocks, certFile)
}

func pemDERForFuzz(f *testing.F, pemBytes []byte) []byte {
	blocks, err := splitPEM(pemBytes, keyFile)
	if err != nil || len(blocks) != 1 {
		f.Fatalf("splitPEM: %v", err)
	}
	return blocks[0].Bytes
}
