package testpkcs12

import (
	"bytes"
	"crypto"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certbind/certbind/internal/testpki"
)

func TestEncode(t *testing.T) {
	root := testpki.NewCA(t, "Root")
	inter := root.Issue(t, testpki.Options{CommonName: "Intermediate", IsCA: true})
	leaf := inter.Issue(t, testpki.Options{CommonName: "leaf", KeyType: testpki.RSA2048})
	key, cert, cas, err := pkcs12.DecodeChain(Encode(t, leaf, []*testpki.Cert{inter, root}, "pw"), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(leaf.Key) || !bytes.Equal(cert.Raw, leaf.DER) {
		t.Error("PKCS#12 holds another key or certificate")
	}
	if len(cas) != 2 || !bytes.Equal(cas[0].Raw, inter.DER) || !bytes.Equal(cas[1].Raw, root.DER) {
		t.Error("PKCS#12 CA certificates differ")
	}
	if _, _, _, err := pkcs12.DecodeChain(Encode(t, leaf, nil, "pw"), "wrong"); err == nil {
		t.Error("a PKCS#12 file opened with the wrong password")
	}
}
