package material

import (
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// BenchmarkParseClient is the check every upload of a client certificate
// passes: a leaf with its intermediate (whose signature is verified) and
// its PKCS#8 key.
func BenchmarkParseClient(b *testing.B) {
	p := newPKI(b)
	in := Input{CertificatePEM: testpki.ChainPEM(p.leaf, p.inter), KeyPEM: p.leaf.KeyPEM}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseClient(in, now); err != nil {
			b.Fatal(err)
		}
	}
}
