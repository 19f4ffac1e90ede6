package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestIssueDefaults(t *testing.T) {
	before := time.Now()
	root := NewCA(t, "Root")
	inter := root.Issue(t, Options{CommonName: "Intermediate", IsCA: true})
	leaf := inter.Issue(t, Options{CommonName: "leaf", DNSNames: []string{"leaf.example"}})

	if !root.Cert.IsCA || !bytes.Equal(root.Cert.RawIssuer, root.Cert.RawSubject) || root.Cert.CheckSignatureFrom(root.Cert) != nil {
		t.Error("root is not a self-signed CA")
	}
	if k, ok := root.Key.(*ecdsa.PrivateKey); !ok || k.Curve.Params().Name != "P-256" {
		t.Errorf("root key is %T, want ECDSA P-256", root.Key)
	}
	if root.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(root.Cert.ExtKeyUsage) != 0 {
		t.Errorf("root key usage %v, EKU %v", root.Cert.KeyUsage, root.Cert.ExtKeyUsage)
	}
	if leaf.Cert.IsCA || leaf.Cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("leaf IsCA %v, key usage %v", leaf.Cert.IsCA, leaf.Cert.KeyUsage)
	}
	if len(leaf.Cert.ExtKeyUsage) != 1 || leaf.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("leaf EKU %v, want clientAuth", leaf.Cert.ExtKeyUsage)
	}
	if nb := leaf.Cert.NotBefore; nb.After(before.Add(-59*time.Minute)) || nb.Before(before.Add(-62*time.Minute)) {
		t.Errorf("NotBefore %v is not about an hour ago", nb)
	}
	if na := leaf.Cert.NotAfter; na.Before(before.Add(89*24*time.Hour)) || na.After(before.Add(91*24*time.Hour)) {
		t.Errorf("NotAfter %v is not about 90 days ahead", na)
	}
	if leaf.Cert.SerialNumber.Sign() <= 0 || leaf.Cert.SerialNumber.Cmp(inter.Cert.SerialNumber) == 0 {
		t.Errorf("serial numbers %v and %v", leaf.Cert.SerialNumber, inter.Cert.SerialNumber)
	}

	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters.AddCert(inter.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("leaf does not verify as a client certificate: %v", err)
	}

	// Each PEM holds exactly the certificate or key it claims to.
	if b, rest := pem.Decode(leaf.CertPEM); b == nil || b.Type != "CERTIFICATE" || !bytes.Equal(b.Bytes, leaf.DER) || len(rest) != 0 {
		t.Error("CertPEM is not the certificate alone")
	}
	checkKeyPEM(t, leaf.KeyPEM, "PRIVATE KEY", leaf.Key, func(der []byte) (any, error) { return x509.ParsePKCS8PrivateKey(der) })
	if got := ChainPEM(leaf, inter); !bytes.Equal(got, append(bytes.Clone(leaf.CertPEM), inter.CertPEM...)) {
		t.Error("ChainPEM is not the concatenation in order")
	}
}

func TestOptions(t *testing.T) {
	root := NewCA(t, "Root")
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	c := root.Issue(t, Options{CommonName: "dated", NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageKeyEncipherment})
	if !c.Cert.NotBefore.Equal(nb) || !c.Cert.NotAfter.Equal(na) || c.Cert.KeyUsage != x509.KeyUsageKeyEncipherment {
		t.Errorf("dates %v..%v, key usage %v", c.Cert.NotBefore, c.Cert.NotAfter, c.Cert.KeyUsage)
	}
	none := root.Issue(t, Options{CommonName: "no eku", NoExtKeyUsage: true})
	for _, ext := range none.Cert.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			t.Error("NoExtKeyUsage still wrote the extension")
		}
	}
	self := NewSelfSigned(t, Options{CommonName: "self", KeyType: Ed25519})
	if self.Cert.IsCA {
		t.Error("self-signed leaf is a CA")
	}
	if err := self.Cert.CheckSignature(self.Cert.SignatureAlgorithm, self.Cert.RawTBSCertificate, self.Cert.Signature); err != nil {
		t.Errorf("self-signed leaf is not signed by its own key: %v", err)
	}
}

func TestIssueNeedsCA(t *testing.T) {
	leaf := NewSelfSigned(t, Options{CommonName: "leaf"})
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		leaf.Issue(rec, Options{CommonName: "child"})
	}()
	<-done
	if !rec.failed {
		t.Error("Issue from a non-CA did not fail the test")
	}
}

// fatalRecorder stands in for a testing.TB to observe a Fatalf.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}

func TestKeyTypes(t *testing.T) {
	root := NewCA(t, "Root")
	tests := []struct {
		kt   KeyType
		want string
	}{
		{ECDSAP256, "ECDSA P-256"}, {ECDSAP384, "ECDSA P-384"}, {ECDSAP521, "ECDSA P-521"},
		{RSA2048, "RSA 2048"}, {RSA1024, "RSA 1024"}, {Ed25519, "Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := root.Issue(t, Options{CommonName: "k", KeyType: tt.kt})
			if tt.kt.String() != tt.want || describe(c.Key) != tt.want {
				t.Errorf("KeyType %q made a %s key", tt.kt, describe(c.Key))
			}
			if !c.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.Cert.PublicKey) {
				t.Error("certificate does not hold the key")
			}
			switch tt.kt {
			case RSA2048, RSA1024:
				checkKeyPEM(t, c.KeyPEMPKCS1(t), "RSA PRIVATE KEY", c.Key, func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) })
			case ECDSAP256, ECDSAP384, ECDSAP521:
				checkKeyPEM(t, c.KeyPEMSEC1(t), "EC PRIVATE KEY", c.Key, func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) })
			}
		})
	}
}

func describe(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PrivateKey:
		return "RSA " + strconv.Itoa(k.N.BitLen())
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return "unknown"
}

func checkKeyPEM(t *testing.T, pemBytes []byte, typ string, want crypto.Signer, parse func([]byte) (any, error)) {
	t.Helper()
	b, rest := pem.Decode(pemBytes)
	if b == nil || b.Type != typ || len(rest) != 0 {
		t.Fatalf("not a single %s block", typ)
	}
	key, err := parse(b.Bytes)
	if err != nil {
		t.Fatalf("%s does not parse: %v", typ, err)
	}
	if !key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(want) {
		t.Errorf("%s holds another key", typ)
	}
}

func TestEncryptedKeyPEM(t *testing.T) {
	c := NewSelfSigned(t, Options{CommonName: "enc"})
	for _, p := range []PBES2{{}, {PRF: crypto.SHA1, AESBits: 128}, {PRF: crypto.SHA512, AESBits: 192, Iterations: 5000, WriteKeyLength: true}} {
		block, _ := pem.Decode(c.EncryptedKeyPEMWith(t, "pw", p))
		if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
			t.Fatal("not an ENCRYPTED PRIVATE KEY block")
		}
		var info encryptedPrivateKeyInfo
		var params pbes2Params
		var kdf pbkdf2Params
		if _, err := asn1.Unmarshal(block.Bytes, &info); err != nil {
			t.Fatal(err)
		}
		asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params)
		asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf)
		wantIter, wantPRF := p.Iterations, p.PRF
		if wantIter == 0 {
			wantIter = 2048
		}
		if wantPRF == 0 {
			wantPRF = crypto.SHA256
		}
		if !info.Algorithm.Algorithm.Equal(oidPBES2) || !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) || kdf.IterationCount != wantIter {
			t.Errorf("%+v: algorithm %v, KDF %v, %d iterations", p, info.Algorithm.Algorithm, params.KeyDerivationFunc.Algorithm, kdf.IterationCount)
		}
		// DER forbids writing the default PRF, HMAC-SHA1.
		if wantPRF == crypto.SHA1 && len(kdf.PRF.Algorithm) != 0 || wantPRF != crypto.SHA1 && !kdf.PRF.Algorithm.Equal(oidHMAC[wantPRF]) {
			t.Errorf("%+v: PRF %v", p, kdf.PRF.Algorithm)
		}
		if (kdf.KeyLength != 0) != p.WriteKeyLength {
			t.Errorf("%+v: keyLength %d", p, kdf.KeyLength)
		}
	}
}

// TestEncryptedKeyPEMOpenSSL has OpenSSL decrypt what EncryptedKeyPEM and
// LegacyEncryptedKeyPEM write, so the formats are checked by a reader that
// certbind did not write.
func TestEncryptedKeyPEMOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	for _, kt := range []KeyType{ECDSAP256, RSA2048, Ed25519} {
		c := NewSelfSigned(t, Options{CommonName: "k", KeyType: kt})
		for name, pemBytes := range map[string][]byte{
			"pbes2-sha256":  c.EncryptedKeyPEM(t, "pw"),
			"pbes2-sha1":    c.EncryptedKeyPEMWith(t, "pw", PBES2{PRF: crypto.SHA1, AESBits: 128}),
			"pbes2-sha384":  c.EncryptedKeyPEMWith(t, "pw", PBES2{PRF: crypto.SHA384, AESBits: 192, WriteKeyLength: true}),
			"legacy-aes256": c.LegacyEncryptedKeyPEM(t, "pw"),
		} {
			in := filepath.Join(dir, "key.pem")
			if err := os.WriteFile(in, pemBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "pkey", "-in", in, "-passin", "pass:pw").Output()
			if err != nil {
				t.Errorf("%v %s: openssl cannot decrypt: %v", kt, name, err)
				continue
			}
			if !bytes.Equal(out, c.KeyPEM) {
				t.Errorf("%v %s: openssl decrypted another key", kt, name)
			}
		}
	}
}

func TestLegacyEncryptedKeyPEM(t *testing.T) {
	for _, kt := range []KeyType{ECDSAP384, RSA2048, Ed25519} {
		c := NewSelfSigned(t, Options{CommonName: "k", KeyType: kt})
		block, _ := pem.Decode(c.LegacyEncryptedKeyPEM(t, "pw"))
		if block.Headers["Proc-Type"] != "4,ENCRYPTED" {
			t.Errorf("%v: headers %v", kt, block.Headers)
		}
		//lint:ignore SA1019 checking the legacy format needs its reader
		der, err := x509.DecryptPEMBlock(block, []byte("pw"))
		if err != nil {
			t.Fatalf("%v: %v", kt, err)
		}
		var key any
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(der)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(der)
		default:
			key, err = x509.ParsePKCS8PrivateKey(der)
		}
		if err != nil || !key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(c.Key) {
			t.Errorf("%v: %s block holds another key (%v)", kt, block.Type, err)
		}
	}
}

// TestTLS uses the certificates for what they are for: mutual TLS over
// loopback, with a server certificate for 127.0.0.1.
func TestTLS(t *testing.T) {
	root := NewCA(t, "Root")
	server := root.Issue(t, Options{CommonName: "server", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	client := root.Issue(t, Options{CommonName: "client", KeyType: Ed25519})
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)

	serverCert, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		io.WriteString(conn, "ok")
	}()

	clientCert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got, _ := io.ReadAll(conn); string(got) != "ok" {
		t.Errorf("read %q", got)
	}
	if got := <-peer; got != "client" {
		t.Errorf("server saw client %q", got)
	}
}
