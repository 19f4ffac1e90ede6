package material

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

func TestParseCA(t *testing.T) {
	now := time.Now()
	p := newPKI(t)
	rsaRoot := testpki.NewSelfSigned(t, testpki.Options{CommonName: "RSA Root", IsCA: true, KeyType: testpki.RSA2048})

	t.Run("bundle", func(t *testing.T) {
		ca, err := ParseCA(testpki.ChainPEM(p.inter, p.root, rsaRoot), now)
		if err != nil {
			t.Fatal(err)
		}
		if len(ca.Certs) != 3 || !bytes.Equal(ca.PEM, testpki.ChainPEM(p.inter, p.root, rsaRoot)) {
			t.Errorf("got %d certificates, PEM:\n%s", len(ca.Certs), ca.PEM)
		}
		if ca.Info.Subject != "CN=Test Intermediate" || ca.Info.Issuer != "CN=Test Root" || ca.Info.KeyAlgorithm != "ECDSA P-256" {
			t.Errorf("Info = %+v", ca.Info)
		}
	})
	t.Run("single root with CRLF", func(t *testing.T) {
		in := bytes.ReplaceAll(rsaRoot.CertPEM, []byte("\n"), []byte("\r\n"))
		ca, err := ParseCA(in, now)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ca.PEM, rsaRoot.CertPEM) || ca.Info.KeyAlgorithm != "RSA 2048" {
			t.Errorf("PEM not normalized or Info wrong: %+v", ca.Info)
		}
	})

	expiredCA := p.root.Issue(t, testpki.Options{CommonName: "Expired CA", IsCA: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	futureCA := p.root.Issue(t, testpki.Options{CommonName: "Future CA", IsCA: true, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)})
	var many []*testpki.Cert
	for range MaxCABundle + 1 {
		many = append(many, p.root)
	}
	bad := []struct {
		name     string
		in       []byte
		contains []string
	}{
		{"empty", nil, []string{"CA file is empty"}},
		{"oversized", bytes.Repeat([]byte("-"), MaxCAPEM+1), []string{"limit of 262144 bytes"}},
		{"client certificate", testpki.ChainPEM(p.root, p.leaf), []string{"certificate 2 (CN=client) is not a CA certificate", "without --ca"}},
		{"expired", testpki.ChainPEM(expiredCA), []string{"certificate 1 (CN=Expired CA) expired on " + date(expiredCA.Cert.NotAfter)}},
		{"not yet valid", testpki.ChainPEM(futureCA), []string{"not valid until " + date(futureCA.Cert.NotBefore)}},
		{"with its key", append(bytes.Clone(p.root.CertPEM), p.root.KeyPEM...), []string{fmt.Sprintf("holds a private key (PEM block at line %d)", bytes.Count(p.root.CertPEM, []byte("\n"))+1), "a CA upload takes no key"}},
		{"only a key", p.root.KeyPEM, []string{"a CA upload takes no key"}},
		{"too many", testpki.ChainPEM(many...), []string{"holds 51 certificates, more than the 50 allowed"}},
		{"DER", p.root.DER, []string{"DER (binary) certificate", "openssl x509 -inform der"}},
		{"garbage", append(bytes.Clone(p.root.CertPEM), "# my CA\n"...), []string{"text outside PEM blocks"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := ParseCA(tt.in, now)
			if err == nil {
				t.Fatalf("accepted: %+v", ca.Info)
			}
			wantError(t, err, FieldCertificate, tt.contains, tt.in)
		})
	}
}
