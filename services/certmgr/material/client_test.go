package material

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
)

func TestParseClientRejects(t *testing.T) {
	now := time.Now()
	p := newPKI(t)
	leaf, inter, root := p.leaf, p.inter, p.root
	chain := testpki.ChainPEM(leaf, inter)

	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	future := now.Add(30 * 24 * time.Hour).Truncate(time.Second)
	expired := inter.Issue(t, testpki.Options{CommonName: "old client", NotBefore: past.Add(-time.Hour), NotAfter: past})
	early := inter.Issue(t, testpki.Options{CommonName: "early client", NotBefore: future, NotAfter: future.Add(time.Hour)})
	expiredInter := root.Issue(t, testpki.Options{CommonName: "Old Intermediate", IsCA: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	leafOfExpired := expiredInter.Issue(t, testpki.Options{CommonName: "client of old", NotBefore: now.Add(-30 * time.Hour), NotAfter: now.Add(time.Hour)})
	serverOnly := inter.Issue(t, testpki.Options{CommonName: "server", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	noDigSig := inter.Issue(t, testpki.Options{CommonName: "encipher only", KeyUsage: x509.KeyUsageKeyAgreement})
	rsa1024 := inter.Issue(t, testpki.Options{CommonName: "weak", KeyType: testpki.RSA1024})
	p521 := inter.Issue(t, testpki.Options{CommonName: "big curve", KeyType: testpki.ECDSAP521})
	otherLeaf := inter.Issue(t, testpki.Options{CommonName: "someone else"})
	edLeaf := inter.Issue(t, testpki.Options{CommonName: "edwards", KeyType: testpki.Ed25519})
	otherRoot := testpki.NewCA(t, "Other Root")
	otherInter := otherRoot.Issue(t, testpki.Options{CommonName: "Other Intermediate", IsCA: true})
	subCA := inter.Issue(t, testpki.Options{CommonName: "Sub CA", IsCA: true})
	twinRoot := testpki.NewCA(t, "Test Root") // same name as root, different key
	nonCAIssuer := inter.Issue(t, testpki.Options{CommonName: "not a CA"})
	fromNonCA := signedByNonCA(t, nonCAIssuer, "issued by a leaf")

	var eleven []*testpki.Cert
	for range 11 {
		eleven = append(eleven, leaf)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519DER, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	ed448DER, _ := asn1.Marshal(pkcs8{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidEd448}, PrivateKey: make([]byte, 59)})
	hugeRSA, _ := asn1.Marshal(struct{ Version, N, E, D, P, Q, Dp, Dq, Qinv *big.Int }{
		big.NewInt(0), new(big.Int).Lsh(big.NewInt(1), 9000), big.NewInt(65537),
		big.NewInt(3), big.NewInt(3), big.NewInt(3), big.NewInt(3), big.NewInt(3), big.NewInt(3)})
	sec1Params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	keyBody := leaf.KeyPEM[len("-----BEGIN PRIVATE KEY-----\n"):]
	p12 := testpkcs12.Encode(t, leaf, []*testpki.Cert{inter}, "p12 secret")
	p12Unrelated := testpkcs12.Encode(t, leaf, []*testpki.Cert{inter, otherInter}, "pw")
	p12Expired := testpkcs12.Encode(t, expired, []*testpki.Cert{inter}, "pw")
	damagedCert := pemBlock("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	half := chain[:len(chain)/2]
	chainLines, certLines := bytes.Count(chain, []byte("\n")), bytes.Count(leaf.CertPEM, []byte("\n"))
	// A first block that lost its END line, followed by a good one:
	// encoding/pem would skip to the second and drop the first silently.
	lostEnd := append(bytes.Clone(leaf.CertPEM[:len(leaf.CertPEM)-len("-----END CERTIFICATE-----\n")]), inter.CertPEM...)

	tests := []struct {
		name     string
		in       Input
		field    string
		contains []string
	}{
		// What was given.
		{"nothing", Input{}, FieldCertificate, []string{"no certificate was given", "--cert", "--key"}},
		{"key without certificate", Input{KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"without its certificate", "--cert"}},
		{"certificate without key", Input{CertificatePEM: chain}, FieldKey, []string{"no private key", "--key"}},
		{"blank certificate", Input{CertificatePEM: []byte(" \n\t\n"), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate file is empty", "BEGIN CERTIFICATE"}},
		{"blank key", Input{CertificatePEM: chain, KeyPEM: []byte("\n\n")}, FieldKey, []string{"key file is empty"}},
		{"PEM and PKCS#12", Input{CertificatePEM: chain, KeyPEM: leaf.KeyPEM, PKCS12: p12, PKCS12Password: "p12 secret"}, FieldPKCS12, []string{"both PEM files and a PKCS#12 file", "either"}},
		{"PKCS#12 password without file", Input{CertificatePEM: chain, KeyPEM: leaf.KeyPEM, PKCS12Password: "x"}, FieldPassphrase, []string{"without a PKCS#12 file"}},
		{"key passphrase with PKCS#12", Input{PKCS12: p12, KeyPassphrase: "p12 secret"}, FieldPassphrase, []string{"password of its own", "leave out --key-passphrase"}},

		// Sizes.
		{"oversized certificate", Input{CertificatePEM: bytes.Repeat([]byte("A"), MaxCertificatePEM+1), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"65537 bytes", "limit of 65536 bytes (64 KiB)"}},
		{"oversized key", Input{CertificatePEM: chain, KeyPEM: bytes.Repeat([]byte("A"), MaxKeyPEM+1)}, FieldKey, []string{"limit of 16384 bytes"}},
		{"oversized PKCS#12", Input{PKCS12: make([]byte, MaxPKCS12+1)}, FieldPKCS12, []string{"limit of 131072 bytes"}},
		{"oversized passphrase", Input{CertificatePEM: chain, KeyPEM: leaf.KeyPEM, KeyPassphrase: strings.Repeat("x", MaxPassphrase+1)}, FieldPassphrase, []string{"1025 bytes", "1024"}},

		// The certificate file.
		{"DER certificate", Input{CertificatePEM: leaf.DER, KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"DER (binary) certificate", "openssl x509 -inform der -in cert.der -out cert.pem"}},
		{"DER key as certificate", Input{CertificatePEM: pemDER(t, leaf.KeyPEM), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"DER (binary) private key, not a certificate", "--key"}},
		{"PKCS#12 as certificate", Input{CertificatePEM: p12, KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"PKCS#12", "openssl pkcs12"}},
		{"text without PEM", Input{CertificatePEM: []byte("hello, this is not a certificate\n"), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"no PEM block", "-----BEGIN CERTIFICATE-----"}},
		{"garbage after the chain", Input{CertificatePEM: append(bytes.Clone(chain), "trailing junk\n"...), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{fmt.Sprintf("text outside PEM blocks at line %d, after PEM block 2", chainLines+1), "delete"}},
		{"garbage between blocks", Input{CertificatePEM: bytes.Join([][]byte{leaf.CertPEM, []byte("junk\n"), inter.CertPEM}, nil), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{fmt.Sprintf("line %d, after PEM block 1", certLines+1)}},
		{"openssl bag attributes", Input{CertificatePEM: append([]byte("Bag Attributes\n    localKeyID: 01\nsubject=CN=client\n"), chain...), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"line 1, before the first PEM block", "Bag Attributes"}},
		{"truncated PEM", Input{CertificatePEM: half, KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"damaged PEM block at line", "END line is missing"}},
		{"block without END before a good one", Input{CertificatePEM: lostEnd, KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"damaged PEM block at line 1 (type \"CERTIFICATE\")"}},
		{"key in certificate file", Input{CertificatePEM: append(bytes.Clone(chain), leaf.KeyPEM...), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{fmt.Sprintf("holds a private key (PEM block at line %d)", chainLines+1), "--key"}},
		{"CSR in certificate file", Input{CertificatePEM: pemBlock("CERTIFICATE REQUEST", []byte{1, 2, 3}), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate signing request"}},
		{"other block in certificate file", Input{CertificatePEM: append(bytes.Clone(chain), pemBlock("EC PARAMETERS", sec1Params)...), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{fmt.Sprintf(`type "EC PARAMETERS" at line %d`, chainLines+1), "only CERTIFICATE blocks"}},
		{"unparsable certificate", Input{CertificatePEM: damagedCert, KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 1 in the certificate file (line 1) is not a valid X.509 certificate"}},
		{"too many certificates", Input{CertificatePEM: testpki.ChainPEM(eleven...), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"holds 11 certificates, more than the 10 allowed"}},

		// The chain.
		{"wrong order", Input{CertificatePEM: testpki.ChainPEM(inter, leaf), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"out of order", "certificate 2 (CN=client) is the client certificate; put it first"}},
		{"root first", Input{CertificatePEM: testpki.ChainPEM(root, leaf, inter), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 2 (CN=client) is the client certificate"}},
		{"unrelated intermediate", Input{CertificatePEM: testpki.ChainPEM(leaf, otherInter), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 2 (CN=Other Intermediate) did not issue certificate 1 (CN=client)", `"CN=Test Intermediate"`}},
		{"intermediate missing", Input{CertificatePEM: testpki.ChainPEM(leaf, root), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 2 (CN=Test Root) did not issue certificate 1 (CN=client)"}},
		{"unrelated certificate after the intermediate", Input{CertificatePEM: testpki.ChainPEM(leaf, inter, otherRoot.Issue(t, testpki.Options{CommonName: "x"})), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 3 (CN=x) did not issue certificate 2 (CN=Test Intermediate)"}},
		{"issuer in reverse", Input{CertificatePEM: testpki.ChainPEM(leaf, inter, subCA), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 3 (CN=Sub CA) comes after certificate 2 (CN=Test Intermediate), but it was issued by it"}},
		{"same name, other key", Input{CertificatePEM: testpki.ChainPEM(leaf, inter, twinRoot), KeyPEM: leaf.KeyPEM}, FieldCertificate, []string{"certificate 3 (CN=Test Root) has the name of certificate 2 (CN=Test Intermediate)'s issuer but did not sign it"}},
		{"issuer is not a CA", Input{CertificatePEM: testpki.ChainPEM(fromNonCA, nonCAIssuer), KeyPEM: fromNonCA.KeyPEM}, FieldCertificate, []string{"certificate 2 (CN=not a CA) signed certificate 1 (CN=issued by a leaf) but is not a CA certificate"}},
		{"expired intermediate", Input{CertificatePEM: testpki.ChainPEM(leafOfExpired, expiredInter), KeyPEM: leafOfExpired.KeyPEM}, FieldCertificate, []string{"certificate 2 (CN=Old Intermediate) expired on " + date(expiredInter.Cert.NotAfter), "current intermediate"}},

		// The client certificate.
		{"expired", Input{CertificatePEM: testpki.ChainPEM(expired, inter), KeyPEM: expired.KeyPEM}, FieldCertificate, []string{"the client certificate, certificate 1 (CN=old client), expired on 2020-01-02T03:04:05Z", "renew"}},
		{"not yet valid", Input{CertificatePEM: testpki.ChainPEM(early, inter), KeyPEM: early.KeyPEM}, FieldCertificate, []string{"is not valid until " + date(future)}},
		{"CA as client certificate", Input{CertificatePEM: root.CertPEM, KeyPEM: root.KeyPEM}, FieldCertificate, []string{"certificate 1 (CN=Test Root) is a CA certificate", "--ca"}},
		{"serverAuth only", Input{CertificatePEM: testpki.ChainPEM(serverOnly, inter), KeyPEM: serverOnly.KeyPEM}, FieldCertificate, []string{"may not be used for client authentication", "allows only serverAuth", "clientAuth"}},
		{"key usage without digitalSignature", Input{CertificatePEM: testpki.ChainPEM(noDigSig, inter), KeyPEM: noDigSig.KeyPEM}, FieldCertificate, []string{"without digitalSignature"}},
		{"RSA 1024", Input{CertificatePEM: testpki.ChainPEM(rsa1024, inter), KeyPEM: rsa1024.KeyPEM}, FieldCertificate, []string{"unsupported key (RSA 1024)", "RSA of 2048 to 8192 bits"}},
		{"P-521", Input{CertificatePEM: testpki.ChainPEM(p521, inter), KeyPEM: p521.KeyPEM}, FieldCertificate, []string{"unsupported key (ECDSA P-521)", "P-256 or P-384"}},

		// The key file.
		{"DER key", Input{CertificatePEM: chain, KeyPEM: pemDER(t, leaf.KeyPEM)}, FieldKey, []string{"binary", "openssl pkey -inform der -in key.der -out key.pem"}},
		{"key on one line", Input{CertificatePEM: chain, KeyPEM: bytes.ReplaceAll(leaf.KeyPEM, []byte("\n"), nil)}, FieldKey, []string{"damaged PEM block at line 1 (a malformed type)"}},
		{"key not PEM", Input{CertificatePEM: chain, KeyPEM: keyBody}, FieldKey, []string{"holds no PEM block", "-----BEGIN PRIVATE KEY-----"}},
		{"certificate in key file", Input{CertificatePEM: chain, KeyPEM: append(bytes.Clone(leaf.KeyPEM), leaf.CertPEM...)}, FieldKey, []string{"key file holds a certificate (PEM block at line 6)", "--cert"}},
		{"certificate as key", Input{CertificatePEM: chain, KeyPEM: leaf.CertPEM}, FieldKey, []string{"key file holds a certificate"}},
		{"DER certificate as key", Input{CertificatePEM: chain, KeyPEM: leaf.DER}, FieldKey, []string{"DER (binary) certificate, not a private key"}},
		{"two keys", Input{CertificatePEM: chain, KeyPEM: append(bytes.Clone(leaf.KeyPEM), otherLeaf.KeyPEM...)}, FieldKey, []string{"more than one private key (at lines 1 and 6)"}},
		{"public key", Input{CertificatePEM: chain, KeyPEM: pemBlock("PUBLIC KEY", leaf.Cert.RawSubjectPublicKeyInfo)}, FieldKey, []string{"holds a public key"}},
		{"OpenSSH key", Input{CertificatePEM: chain, KeyPEM: pemBlock("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00"))}, FieldKey, []string{"OpenSSH format", "ssh-keygen -p -m PKCS8 -f key"}},
		{"SSH public key", Input{CertificatePEM: chain, KeyPEM: []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@host\n")}, FieldKey, []string{"SSH public key"}},
		{"DSA key", Input{CertificatePEM: chain, KeyPEM: pemBlock("DSA PRIVATE KEY", []byte{0x30, 0})}, FieldKey, []string{`"DSA PRIVATE KEY"`, "does not support"}},
		{"only EC parameters", Input{CertificatePEM: chain, KeyPEM: pemBlock("EC PARAMETERS", sec1Params)}, FieldKey, []string{"only EC PARAMETERS"}},
		{"damaged PKCS#8", Input{CertificatePEM: chain, KeyPEM: pemBlock("PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00})}, FieldKey, []string{"not valid PKCS#8"}},
		{"damaged PKCS#1", Input{CertificatePEM: chain, KeyPEM: pemBlock("RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00})}, FieldKey, []string{"not a valid PKCS#1 RSA key"}},
		{"damaged SEC 1", Input{CertificatePEM: chain, KeyPEM: pemBlock("EC PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01})}, FieldKey, []string{"not a valid SEC 1 EC key"}},
		{"X25519 key", Input{CertificatePEM: chain, KeyPEM: pemBlock("PRIVATE KEY", x25519DER)}, FieldKey, []string{"ECDH X25519", "does not accept"}},
		{"Ed448 key", Input{CertificatePEM: chain, KeyPEM: pemBlock("PRIVATE KEY", ed448DER)}, FieldKey, []string{"an Ed448 key", "does not support"}},
		{"RSA key above 8192 bits", Input{CertificatePEM: chain, KeyPEM: pemBlock("RSA PRIVATE KEY", hugeRSA)}, FieldKey, []string{"RSA 9001"}},
		{"P-521 key for a P-256 certificate", Input{CertificatePEM: chain, KeyPEM: p521.KeyPEM}, FieldKey, []string{"ECDSA P-521", "does not accept"}},
		{"key of another certificate", Input{CertificatePEM: chain, KeyPEM: otherLeaf.KeyPEM}, FieldKey, []string{"does not belong to the client certificate (CN=client)", "both are ECDSA P-256, but they are different keys"}},
		{"key of another type", Input{CertificatePEM: chain, KeyPEM: edLeaf.KeyPEM}, FieldKey, []string{"the key is Ed25519 but the certificate's key is ECDSA P-256"}},

		// Passphrases.
		{"encrypted key without passphrase", Input{CertificatePEM: chain, KeyPEM: leaf.EncryptedKeyPEM(t, "secret")}, FieldPassphrase, []string{"encrypted", "--key-passphrase"}},
		{"wrong passphrase", Input{CertificatePEM: chain, KeyPEM: leaf.EncryptedKeyPEM(t, "secret"), KeyPassphrase: "not the secret"}, FieldPassphrase, []string{"does not decrypt"}},
		{"legacy key without passphrase", Input{CertificatePEM: chain, KeyPEM: leaf.LegacyEncryptedKeyPEM(t, "secret")}, FieldPassphrase, []string{"--key-passphrase"}},
		{"legacy wrong passphrase", Input{CertificatePEM: chain, KeyPEM: leaf.LegacyEncryptedKeyPEM(t, "secret"), KeyPassphrase: "not the secret"}, FieldPassphrase, []string{"does not decrypt"}},
		{"passphrase for a plain key", Input{CertificatePEM: chain, KeyPEM: leaf.KeyPEM, KeyPassphrase: "secret"}, FieldPassphrase, []string{"not encrypted", "leave out --key-passphrase"}},
		{"PBES1 key", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 10}, Parameters: rawParams(t, pbeParams{Salt: make([]byte, 8), Iterations: 2048})}), KeyPassphrase: "x"}, FieldKey, []string{"obsolete scheme", "openssl pkcs8 -topk8 -v2 aes-256-cbc"}},
		{"PKCS#12 PBE key", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}, Parameters: rawParams(t, pbeParams{Salt: make([]byte, 8), Iterations: 2048})}), KeyPassphrase: "x"}, FieldKey, []string{"obsolete scheme"}},
		{"scrypt key", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pbes2With(t, pkix.AlgorithmIdentifier{Algorithm: oidScrypt}, aes256Alg(t))), KeyPassphrase: "x"}, FieldKey, []string{"scrypt", "-v2 aes-256-cbc"}},
		{"3DES key", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pbes2With(t, pbkdf2Alg(t, 2048), pkix.AlgorithmIdentifier{Algorithm: oidDESEDE3, Parameters: rawParams(t, make([]byte, 8))})), KeyPassphrase: "x"}, FieldKey, []string{"3DES", "AES-128, AES-192 and AES-256"}},
		{"too many iterations", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pbes2With(t, pbkdf2Alg(t, 2_000_000_000), aes256Alg(t))), KeyPassphrase: "x"}, FieldKey, []string{"iteration count is 2000000000", "-iter 100000"}},
		{"damaged ciphertext", Input{CertificatePEM: chain, KeyPEM: encryptedPEM(t, pbes2With(t, pbkdf2Alg(t, 1), aes256Alg(t))), KeyPassphrase: "x"}, FieldPassphrase, []string{"does not decrypt"}},

		// PKCS#12.
		{"PKCS#12 wrong password", Input{PKCS12: p12, PKCS12Password: "not-it"}, FieldPassphrase, []string{"PKCS#12 password is wrong"}},
		{"PKCS#12 without password", Input{PKCS12: p12}, FieldPassphrase, []string{"protected by a password"}},
		{"PKCS#12 garbage", Input{PKCS12: []byte("\x30\x03\x02\x01\x03garbage"), PKCS12Password: "x"}, FieldPKCS12, []string{"damaged or not a PKCS#12 file"}},
		{"PKCS#12 as PEM", Input{PKCS12: chain}, FieldPKCS12, []string{"PEM text"}},
		{"PKCS#12 with unrelated certificate", Input{PKCS12: p12Unrelated, PKCS12Password: "pw"}, FieldPKCS12, []string{"(CN=Other Intermediate) that is not in the chain of the client certificate (CN=client)"}},
		{"PKCS#12 expired", Input{PKCS12: p12Expired, PKCS12Password: "pw"}, FieldPKCS12, []string{"expired on 2020-01-02T03:04:05Z"}},
		{"PKCS#12 MAC iterations", Input{PKCS12: withMACIterations(t, p12, 50_000_000), PKCS12Password: "p12 secret"}, FieldPKCS12, []string{"50000000 key derivation iterations"}},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClient(tt.in, now)
			if err == nil {
				t.Fatalf("accepted: %+v", c.Info)
			}
			t.Log(err)
			wantError(t, err, tt.field, tt.contains, tt.in.CertificatePEM, tt.in.KeyPEM, tt.in.PKCS12)
			for _, secret := range []string{tt.in.KeyPassphrase, tt.in.PKCS12Password} {
				if len(secret) > 3 && strings.Contains(err.Error(), secret) {
					t.Errorf("message quotes the passphrase: %s", err)
				}
			}
		})
	}
}

// pemDER returns the DER inside a single-block PEM file.
func pemDER(t *testing.T, pemBytes []byte) []byte {
	t.Helper()
	blocks, err := splitPEM(pemBytes, keyFile)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("splitPEM: %v, %d blocks", err, len(blocks))
	}
	return blocks[0].Bytes
}

func TestParseClientAccepts(t *testing.T) {
	now := time.Now()
	p := newPKI(t)
	root, inter := p.root, p.inter
	ecParams, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	const pass = "correct horse battery staple"

	type tc struct {
		name    string
		leaf    *testpki.Cert
		chain   []*testpki.Cert // expected Chain after the leaf
		in      Input
		keyAlgo string
	}
	var tests []tc
	add := func(name string, o testpki.Options, keyAlgo string, input func(leaf *testpki.Cert) Input) {
		if o.CommonName == "" {
			o.CommonName = "client"
		}
		leaf := inter.Issue(t, o)
		tests = append(tests, tc{name: name, leaf: leaf, chain: []*testpki.Cert{inter}, in: input(leaf), keyAlgo: keyAlgo})
	}
	pemIn := func(keyPEM func(*testpki.Cert) []byte, passphrase string) func(*testpki.Cert) Input {
		return func(leaf *testpki.Cert) Input {
			return Input{CertificatePEM: testpki.ChainPEM(leaf, inter), KeyPEM: keyPEM(leaf), KeyPassphrase: passphrase}
		}
	}
	pkcs8 := func(c *testpki.Cert) []byte { return c.KeyPEM }

	add("ECDSA P-256 PKCS#8", testpki.Options{DNSNames: []string{"a.example", "b.example"}}, "ECDSA P-256", pemIn(pkcs8, ""))
	add("ECDSA P-384 PKCS#8", testpki.Options{KeyType: testpki.ECDSAP384}, "ECDSA P-384", pemIn(pkcs8, ""))
	add("ECDSA P-256 SEC 1", testpki.Options{}, "ECDSA P-256", pemIn(func(c *testpki.Cert) []byte { return c.KeyPEMSEC1(t) }, ""))
	add("ECDSA P-384 SEC 1 after EC PARAMETERS", testpki.Options{KeyType: testpki.ECDSAP384}, "ECDSA P-384", pemIn(func(c *testpki.Cert) []byte {
		return append(pemBlock("EC PARAMETERS", ecParams), c.KeyPEMSEC1(t)...)
	}, ""))
	add("RSA 2048 PKCS#1", testpki.Options{KeyType: testpki.RSA2048}, "RSA 2048", pemIn(func(c *testpki.Cert) []byte { return c.KeyPEMPKCS1(t) }, ""))
	add("RSA 2048 PKCS#8", testpki.Options{KeyType: testpki.RSA2048}, "RSA 2048", pemIn(pkcs8, ""))
	add("Ed25519 PKCS#8", testpki.Options{KeyType: testpki.Ed25519}, "Ed25519", pemIn(pkcs8, ""))
	for _, prf := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		for _, bits := range []int{128, 192, 256} {
			enc := testpki.PBES2{PRF: prf, AESBits: bits, WriteKeyLength: bits == 192}
			add("encrypted PKCS#8 "+prf.String()+" AES-"+strconv.Itoa(bits), testpki.Options{}, "ECDSA P-256", pemIn(func(c *testpki.Cert) []byte { return c.EncryptedKeyPEMWith(t, pass, enc) }, pass))
		}
	}
	add("encrypted PKCS#8 RSA", testpki.Options{KeyType: testpki.RSA2048}, "RSA 2048", pemIn(func(c *testpki.Cert) []byte { return c.EncryptedKeyPEM(t, pass) }, pass))
	add("encrypted PKCS#8 Ed25519", testpki.Options{KeyType: testpki.Ed25519}, "Ed25519", pemIn(func(c *testpki.Cert) []byte { return c.EncryptedKeyPEM(t, pass) }, pass))
	add("encrypted PKCS#8 non-ASCII passphrase", testpki.Options{}, "ECDSA P-256", pemIn(func(c *testpki.Cert) []byte { return c.EncryptedKeyPEM(t, "pässwörd ✓") }, "pässwörd ✓"))
	add("legacy encrypted RSA", testpki.Options{KeyType: testpki.RSA2048}, "RSA 2048", pemIn(func(c *testpki.Cert) []byte { return c.LegacyEncryptedKeyPEM(t, pass) }, pass))
	add("legacy encrypted ECDSA", testpki.Options{KeyType: testpki.ECDSAP384}, "ECDSA P-384", pemIn(func(c *testpki.Cert) []byte { return c.LegacyEncryptedKeyPEM(t, pass) }, pass))
	add("legacy encrypted Ed25519", testpki.Options{KeyType: testpki.Ed25519}, "Ed25519", pemIn(func(c *testpki.Cert) []byte { return c.LegacyEncryptedKeyPEM(t, pass) }, pass))
	add("no extended key usage", testpki.Options{NoExtKeyUsage: true}, "ECDSA P-256", pemIn(pkcs8, ""))
	add("any extended key usage", testpki.Options{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, "ECDSA P-256", pemIn(pkcs8, ""))
	add("client and server auth, IP SAN", testpki.Options{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, "ECDSA P-256", pemIn(pkcs8, ""))
	add("CRLF, BOM and blank lines", testpki.Options{}, "ECDSA P-256", func(leaf *testpki.Cert) Input {
		crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }
		certs := append([]byte("\xef\xbb\xbf\r\n\r\n"), crlf(testpki.ChainPEM(leaf, inter))...)
		return Input{CertificatePEM: append(certs, "\r\n\t \r\n"...), KeyPEM: crlf(leaf.KeyPEM)}
	})
	add("PKCS#12", testpki.Options{}, "ECDSA P-256", func(leaf *testpki.Cert) Input {
		return Input{PKCS12: testpkcs12.Encode(t, leaf, []*testpki.Cert{inter}, pass), PKCS12Password: pass}
	})
	add("PKCS#12 RSA", testpki.Options{KeyType: testpki.RSA2048}, "RSA 2048", func(leaf *testpki.Cert) Input {
		return Input{PKCS12: testpkcs12.Encode(t, leaf, []*testpki.Cert{inter}, pass), PKCS12Password: pass}
	})
	add("PKCS#12 empty password", testpki.Options{KeyType: testpki.Ed25519}, "Ed25519", func(leaf *testpki.Cert) Input {
		return Input{PKCS12: testpkcs12.Encode(t, leaf, []*testpki.Cert{inter}, "")}
	})

	// Chains other than leaf + intermediate.
	full := inter.Issue(t, testpki.Options{CommonName: "full chain"})
	tests = append(tests, tc{name: "with root", leaf: full, chain: []*testpki.Cert{inter, root},
		in: Input{CertificatePEM: testpki.ChainPEM(full, inter, root), KeyPEM: full.KeyPEM}, keyAlgo: "ECDSA P-256"})
	tests = append(tests, tc{name: "PKCS#12 shuffled chain", leaf: full, chain: []*testpki.Cert{inter, root},
		in: Input{PKCS12: testpkcs12.Encode(t, full, []*testpki.Cert{root, inter, full}, pass), PKCS12Password: pass}, keyAlgo: "ECDSA P-256"})
	alone := root.Issue(t, testpki.Options{CommonName: "issued by the root"})
	tests = append(tests, tc{name: "leaf alone", leaf: alone,
		in: Input{CertificatePEM: alone.CertPEM, KeyPEM: alone.KeyPEM}, keyAlgo: "ECDSA P-256"})
	self := testpki.NewSelfSigned(t, testpki.Options{CommonName: "self-signed client"})
	tests = append(tests, tc{name: "self-signed", leaf: self,
		in: Input{CertificatePEM: self.CertPEM, KeyPEM: self.KeyPEM}, keyAlgo: "ECDSA P-256"})
	deep := inter.Issue(t, testpki.Options{CommonName: "Second Intermediate", IsCA: true})
	deepLeaf := deep.Issue(t, testpki.Options{CommonName: "deep client", KeyType: testpki.RSA2048})
	tests = append(tests, tc{name: "two intermediates", leaf: deepLeaf, chain: []*testpki.Cert{deep, inter},
		in: Input{CertificatePEM: testpki.ChainPEM(deepLeaf, deep, inter), KeyPEM: deepLeaf.KeyPEM}, keyAlgo: "RSA 2048"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClient(tt.in, now)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			want := append([]*testpki.Cert{tt.leaf}, tt.chain...)
			if len(c.Chain) != len(want) {
				t.Fatalf("chain has %d certificates, want %d", len(c.Chain), len(want))
			}
			for i := range want {
				if !bytes.Equal(c.Chain[i].Raw, want[i].DER) {
					t.Errorf("chain[%d] = %s, want %s", i, c.Chain[i].Subject, want[i].Cert.Subject)
				}
			}
			if !bytes.Equal(c.ChainPEM, testpki.ChainPEM(want...)) {
				t.Errorf("ChainPEM is not the normalized chain:\n%s", c.ChainPEM)
			}
			checkKey(t, c, tt.leaf.Key)
			checkInfo(t, c.Info, tt.leaf, tt.keyAlgo)
		})
	}
}

// checkKey checks that PrivateKeyDER is PKCS#8 of exactly want.
func checkKey(t *testing.T, c *Client, want crypto.Signer) {
	t.Helper()
	got, err := x509.ParsePKCS8PrivateKey(c.PrivateKeyDER)
	if err != nil {
		t.Fatalf("PrivateKeyDER does not parse as PKCS#8: %v", err)
	}
	if !got.(interface{ Equal(crypto.PrivateKey) bool }).Equal(want) {
		t.Errorf("PrivateKeyDER holds another key")
	}
	if !want.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Chain[0].PublicKey) {
		t.Errorf("leaf does not hold the key's public half")
	}
}

func checkInfo(t *testing.T, got Info, leaf *testpki.Cert, keyAlgo string) {
	t.Helper()
	sum := sha256.Sum256(leaf.DER)
	want := Info{
		Subject:           "CN=" + leaf.Cert.Subject.CommonName,
		Issuer:            "CN=" + leaf.Cert.Issuer.CommonName,
		SerialNumber:      leaf.Cert.SerialNumber.Text(16),
		FingerprintSHA256: hex.EncodeToString(sum[:]),
		KeyAlgorithm:      keyAlgo,
		NotBefore:         leaf.Cert.NotBefore,
		NotAfter:          leaf.Cert.NotAfter,
	}
	if got.Subject != want.Subject || got.Issuer != want.Issuer || got.SerialNumber != want.SerialNumber ||
		got.FingerprintSHA256 != want.FingerprintSHA256 || got.KeyAlgorithm != want.KeyAlgorithm ||
		!got.NotBefore.Equal(want.NotBefore) || !got.NotAfter.Equal(want.NotAfter) {
		t.Errorf("Info = %+v\nwant %+v", got, want)
	}
	if strings.ContainsAny(got.SerialNumber, ":ABCDEF") || len(got.FingerprintSHA256) != 64 {
		t.Errorf("serial %q or fingerprint %q not lower-case hex", got.SerialNumber, got.FingerprintSHA256)
	}
	if strings.Join(got.DNSNames, ",") != strings.Join(leaf.Cert.DNSNames, ",") {
		t.Errorf("DNSNames = %v, want %v", got.DNSNames, leaf.Cert.DNSNames)
	}
}
