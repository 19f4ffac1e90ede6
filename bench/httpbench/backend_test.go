package httpbench

import (
	"context"
	"testing"
)

// TestBackendCountsResumedHandshakes: the direct setup's second
// connection resumes the first one's session, and the backend tells the
// two apart. Requests without a client certificate are refused.
func TestBackendCountsResumedHandshakes(t *testing.T) {
	p, err := newPKI()
	if err != nil {
		t.Fatal(err)
	}
	b, err := startBackend(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	tgt, _, _ := startDirect(context.Background(), &env{pki: p, backend: b})
	for _, size := range Sizes {
		c := newClient(tgt, size)
		// The TLS 1.3 session ticket arrives after the handshake, with
		// the first response; the second connection can use it.
		for range 2 {
			if err := c.do(context.Background()); err != nil {
				t.Fatalf("%s: %v", size.Name, err)
			}
		}
		c.close()
	}
	if full, resumed := b.handshakes(); full != 1 || resumed != 1 {
		t.Errorf("backend counted %d full and %d resumed handshakes, want 1 and 1", full, resumed)
	}

	anonymous := tgt
	anonymous.tls = tgt.tls.Clone()
	anonymous.tls.Certificates = nil
	anonymous.tls.ClientSessionCache = nil
	if err := newClient(anonymous, Sizes[0]).do(context.Background()); err == nil {
		t.Errorf("the backend answered a client without a certificate")
	}
}
