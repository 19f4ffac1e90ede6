package api

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

func newTestCertificates(t *testing.T) *Certificates {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "certmgr.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return NewCertificates(certs.New(certs.Config{Store: st, Sealer: sealer, Now: time.Now}), slog.New(slog.DiscardHandler))
}

// TestUploadsWaitForDerivationSlots fills acme's key derivation slots and
// checks that password-protected uploads (PKCS#12, encrypted PEM key) are
// then refused with ResourceExhausted, while other uploads and other
// accounts go on.
func TestUploadsWaitForDerivationSlots(t *testing.T) {
	s := newTestCertificates(t)
	s.kdf = material.NewDerivationLimiter(8, 2, 30*time.Millisecond)
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{KeyID: "admin", Role: auth.RoleAdmin})
	for range 2 {
		release, err := s.kdf.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	upload := func(account string, in *certmgrv1.CreateCertificateRequest) codes.Code {
		in.Account, in.Project, in.Name, in.EnvironmentTypes = account, "shop", "myBackendCert", []string{"production"}
		_, err := s.CreateCertificate(ctx, in)
		if status.Code(err) == codes.ResourceExhausted && !strings.Contains(err.Error(), "too many key derivations for account "+account+" at once; retry shortly") {
			t.Errorf("ResourceExhausted without the account named: %v", err)
		}
		return status.Code(err)
	}
	for _, tc := range []struct {
		desc    string
		account string
		in      *certmgrv1.CreateCertificateRequest
		want    codes.Code
	}{
		{"PKCS#12 for acme", "acme", &certmgrv1.CreateCertificateRequest{Pkcs12: []byte("not really"), Pkcs12Password: "pw"}, codes.ResourceExhausted},
		{"PKCS#12 without a password for acme", "acme", &certmgrv1.CreateCertificateRequest{Pkcs12: []byte("not really")}, codes.ResourceExhausted},
		{"encrypted PEM key for acme", "acme", &certmgrv1.CreateCertificateRequest{CertificatePem: "x", PrivateKeyPem: "y", PrivateKeyPassphrase: "pw"}, codes.ResourceExhausted},
		{"plain PEM for acme", "acme", &certmgrv1.CreateCertificateRequest{CertificatePem: "x", PrivateKeyPem: "y"}, codes.InvalidArgument},
		{"PKCS#12 for globex", "globex", &certmgrv1.CreateCertificateRequest{Pkcs12: []byte("not really"), Pkcs12Password: "pw"}, codes.InvalidArgument},
	} {
		if got := upload(tc.account, tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, got, tc.want)
		}
	}
	_, err := s.RotateCertificate(ctx, &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: "crt_x", Pkcs12: []byte("x")})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("rotation with PKCS#12 for acme: %v, want ResourceExhausted", err)
	}
}
