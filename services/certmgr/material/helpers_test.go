package material

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// pki is the certificate hierarchy most tests share: root → intermediate →
// leaf, all ECDSA P-256 and currently valid.
type pki struct {
	root, inter, leaf *testpki.Cert
}

func newPKI(t testing.TB) pki {
	t.Helper()
	root := testpki.NewCA(t, "Test Root")
	inter := root.Issue(t, testpki.Options{CommonName: "Test Intermediate", IsCA: true})
	leaf := inter.Issue(t, testpki.Options{CommonName: "client", DNSNames: []string{"client.example"}})
	return pki{root: root, inter: inter, leaf: leaf}
}

// wantError checks that err is an *Error for field whose message contains
// every fragment, and that it quotes none of the secret inputs.
func wantError(t *testing.T, err error, field string, fragments []string, inputs ...[]byte) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	if e.Field != field {
		t.Errorf("Field = %q, want %q (message: %s)", e.Field, field, e.Msg)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Msg, f) {
			t.Errorf("message %q\ndoes not contain %q", e.Msg, f)
		}
	}
	if e.Error() != e.Msg {
		t.Errorf("Error() = %q, want Msg", e.Error())
	}
	assertNoBody(t, e.Msg, inputs...)
}

// assertNoBody fails if msg repeats a stretch of a PEM body (or of a DER
// input) from inputs. Stretches of a type label on a BEGIN or END line are
// allowed, since messages may name a block's type.
func assertNoBody(t testing.TB, msg string, inputs ...[]byte) {
	t.Helper()
	var labels strings.Builder
	var bodies []string
	for _, in := range inputs {
		for _, line := range bytes.Split(in, []byte("\n")) {
			bodies = append(bodies, string(line)) // raw lines, decodable or not
			for _, marker := range []string{"-----BEGIN ", "-----END "} {
				for rest := string(line); ; {
					_, after, ok := strings.Cut(rest, marker)
					if !ok {
						break
					}
					label, _, _ := strings.Cut(after, "-----")
					labels.WriteString(label + "\n")
					rest = after
				}
			}
		}
		if !bytes.Contains(in, beginMarker) && looksBinary(in) {
			bodies = append(bodies, string(in))
		}
		for rest := in; ; {
			b, next := pem.Decode(rest)
			if b == nil {
				break
			}
			bodies = append(bodies, base64.StdEncoding.EncodeToString(b.Bytes))
			rest = next
		}
	}
	const chunk = 32
	for _, body := range bodies {
		for i := 0; i+chunk <= len(body); i += chunk / 4 {
			c := body[i : i+chunk]
			if strings.Contains(msg, c) && !strings.Contains(labels.String(), c) {
				t.Fatalf("message quotes PEM or DER content %q: %s", c, msg)
			}
		}
	}
}

// signedByNonCA returns a leaf signed by issuer even though issuer is not a
// CA, which testpki refuses to do.
func signedByNonCA(t *testing.T, issuer *testpki.Cert, cn string) *testpki.Cert {
	t.Helper()
	leaf := testpki.NewSelfSigned(t, testpki.Options{CommonName: cn})
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer.Cert, leaf.Key.Public(), issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leaf.Cert, leaf.DER = cert, der
	leaf.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return leaf
}

// encryptedPEM wraps an EncryptedPrivateKeyInfo with the given algorithm
// around random "ciphertext", for schemes certbind must refuse.
func encryptedPEM(t testing.TB, alg pkix.AlgorithmIdentifier) []byte {
	t.Helper()
	data := make([]byte, 64)
	rand.Read(data)
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: alg, EncryptedData: data})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func rawParams(t testing.TB, v any) asn1.RawValue {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{FullBytes: der}
}

// pbes2With builds a PBES2 AlgorithmIdentifier from a KDF and a cipher.
func pbes2With(t testing.TB, kdf, enc pkix.AlgorithmIdentifier) pkix.AlgorithmIdentifier {
	t.Helper()
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: rawParams(t, pbes2Params{KeyDerivationFunc: kdf, EncryptionScheme: enc})}
}

func pbkdf2Alg(t testing.TB, iterations int) pkix.AlgorithmIdentifier {
	t.Helper()
	return pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: rawParams(t, struct {
		Salt       []byte
		Iterations int
	}{make([]byte, 16), iterations})}
}

func aes256Alg(t testing.TB) pkix.AlgorithmIdentifier {
	t.Helper()
	return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, Parameters: rawParams(t, make([]byte, 16))}
}

// pemBlock encodes one PEM block.
func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// withMACIterations rewrites the MAC iteration count of a PKCS#12 file. The
// MAC is not recomputed: the count must be refused before anything is
// verified.
func withMACIterations(t testing.TB, p12 []byte, iterations int) []byte {
	t.Helper()
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(p12, &outer); err != nil {
		t.Fatal(err)
	}
	var version, authSafe, mac asn1.RawValue
	rest, _ := asn1.Unmarshal(outer.Bytes, &version)
	rest, _ = asn1.Unmarshal(rest, &authSafe)
	if _, err := asn1.Unmarshal(rest, &mac); err != nil {
		t.Fatal(err)
	}
	var md p12MacData
	if _, err := asn1.Unmarshal(mac.FullBytes, &md); err != nil {
		t.Fatal(err)
	}
	md.Iterations = iterations
	newMAC, err := asn1.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Join([][]byte{version.FullBytes, authSafe.FullBytes, newMAC}, nil)
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
