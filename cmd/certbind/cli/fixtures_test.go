package cli

import (
	"errors"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// certSpec describes a certificate a test uploads to the shared suite.
type certSpec struct {
	name     string
	days     int // until it expires
	types    []string
	dnsNames []string
	ca       bool // a CA certificate (no key) rather than a client one
}

// uploaded is a certificate as the real server stored it, and the leaf
// that was uploaded.
type uploaded struct {
	*certmgrv1.Certificate
	leaf *testpki.Cert
}

// createCerts uploads client certificates to account/shop on the shared
// suite through the CLI's client, with a fresh key each.
func createCerts(t *testing.T, account string, specs ...certSpec) []uploaded {
	t.Helper()
	ca := testpki.NewCA(t, "CLI Test CA")
	c := adminClient(t)
	out := make([]uploaded, 0, len(specs))
	for _, s := range specs {
		leaf := ca.Issue(t, testpki.Options{CommonName: s.name, DNSNames: s.dnsNames,
			NotAfter: time.Now().Add(time.Duration(s.days)*24*time.Hour + time.Hour)})
		req := &certmgrv1.CreateCertificateRequest{Account: account, Project: "shop", Name: s.name,
			EnvironmentTypes: s.types, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}
		if s.ca {
			leaf = testpki.NewCA(t, s.name)
			req.Ca, req.CertificatePem, req.PrivateKeyPem = true, string(leaf.CertPEM), ""
		}
		got, err := c.CreateCertificate(t.Context(), req)
		if err != nil {
			t.Fatalf("uploading %s: %v", s.name, err)
		}
		out = append(out, uploaded{got, leaf})
	}
	return out
}

// adminClient is the CLI's client for the shared suite with the admin key.
func adminClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(&GlobalOptions{APIURL: sharedSuiteURL(t), APIKey: adminKey, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asAPIError is errors.As for an *APIError.
func asAPIError(err error, target **APIError) bool {
	return errors.As(err, target)
}
