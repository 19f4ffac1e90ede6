package certmgr_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// rotation is a valid rotation of the certificate id in acme/shop to leaf.
func rotation(id string, leaf *testpki.Cert) *certmgrv1.RotateCertificateRequest {
	return &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: id,
		CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}
}

func fingerprint(c *testpki.Cert) string {
	sum := sha256.Sum256(c.DER)
	return hex.EncodeToString(sum[:])
}

// wantKeyOf fails unless mat carries leaf's certificate and a private key
// that belongs to it.
func wantKeyOf(t *testing.T, mat *certmgrv1.CertificateMaterial, leaf *testpki.Cert) {
	t.Helper()
	if got := mat.GetCertificate().GetFingerprintSha256(); got != fingerprint(leaf) {
		t.Fatalf("material is for fingerprint %s, want the new leaf's %s", got, fingerprint(leaf))
	}
	if mat.GetCertificate().GetCertificatePem() != string(leaf.CertPEM) {
		t.Fatalf("material PEM is not the new leaf:\n%s", mat.GetCertificate().GetCertificatePem())
	}
	key, err := x509.ParsePKCS8PrivateKey(mat.GetPrivateKeyPkcs8())
	if err != nil {
		t.Fatalf("material key: %v", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !leaf.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()) {
		t.Fatalf("material key does not belong to the new leaf %s", leaf.Cert.Subject)
	}
}

func TestRotateInPlace(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	req, old := clientUpload(t, "myBackendCert")
	created, err := s.certs().CreateCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	v1 := created.GetCertificate()
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{Account: "acme", EnvironmentType: "production"})
	w.snapshot()

	leaf := testpki.NewCA(t, "New Root").Issue(t, testpki.Options{CommonName: "rotated.client", DNSNames: []string{"rotated.internal"}})
	resp, err := s.certs().RotateCertificate(ctx, rotation(v1.GetId(), leaf))
	if err != nil {
		t.Fatal(err)
	}
	v2 := resp.GetCertificate()
	if v2.GetId() != v1.GetId() || v2.GetName() != "myBackendCert" || v2.GetVersion() != 2 || v2.GetState() != "active" || v2.GetKind() != "client" {
		t.Fatalf("rotated certificate %v, want the same id and name at version 2", v2)
	}
	if v2.GetFingerprintSha256() != fingerprint(leaf) || v2.GetFingerprintSha256() == v1.GetFingerprintSha256() ||
		v2.GetSubject() != "CN=rotated.client" || v2.GetIssuer() != "CN=New Root" || v2.GetSerialNumber() != leaf.Cert.SerialNumber.Text(16) ||
		strings.Join(v2.GetDnsNames(), ",") != "rotated.internal" || v2.GetNotAfter().AsTime().Unix() != leaf.Cert.NotAfter.Unix() {
		t.Fatalf("rotated metadata does not describe the new leaf: %v", v2)
	}
	if strings.Join(v2.GetEnvironmentTypes(), ",") != "development,production" || !v2.GetCreatedAt().AsTime().Equal(v1.GetCreatedAt().AsTime()) ||
		!v2.GetUpdatedAt().AsTime().After(v1.GetUpdatedAt().AsTime()) || v2.GetRevision() <= v1.GetRevision() {
		t.Fatalf("rotation changed what it must keep, or not the update time and revision: %v", v2)
	}

	// Edges hear of it as a rotation, with the new key, and without a redeploy.
	ch := w.change()
	if ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED || ch.GetCertificateId() != v1.GetId() || ch.GetRevision() != v2.GetRevision() ||
		ch.GetMaterial().GetCertificate().GetVersion() != 2 {
		t.Fatalf("change %v, want a rotation to version 2", ch)
	}
	wantKeyOf(t, ch.GetMaterial(), leaf)

	if got, err := s.certs().GetCertificate(ctx, &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: v1.GetId()}); err != nil || !proto.Equal(got.GetCertificate(), v2) {
		t.Fatalf("get after rotate: %v %v", got, err)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"action":"certificate.rotate"`) || !strings.Contains(logs, `"certificateId":"`+v1.GetId()+`"`) {
		t.Errorf("no audit line for the rotation:\n%s", logs)
	}
	for _, k := range []*testpki.Cert{old, leaf} {
		block, _ := pem.Decode(k.KeyPEM)
		if strings.Contains(logs, base64.StdEncoding.EncodeToString(block.Bytes)[:32]) || strings.Contains(logs, "PRIVATE KEY") {
			t.Errorf("logs hold key material")
		}
	}

	// The new version and its key survive a restart: a fresh subscriber gets
	// version 2 in its snapshot, and the key sealed for it opens.
	s.restart()
	got, err := s.certs().GetCertificate(ctx, &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: v1.GetId()})
	if err != nil || got.GetCertificate().GetVersion() != 2 || got.GetCertificate().GetFingerprintSha256() != fingerprint(leaf) {
		t.Fatalf("after restart: %v %v", got, err)
	}
	w = watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	if ev := w.next(); ev.GetResync() == nil {
		t.Fatalf("want resync first, got %v", ev)
	}
	item := w.next().GetSnapshotItem()
	if item.GetCertificate().GetId() != v1.GetId() || item.GetCertificate().GetVersion() != 2 {
		t.Fatalf("snapshot item after restart %v, want version 2", item)
	}
	wantKeyOf(t, item, leaf)
}

func TestRotateDisabledAndCA(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	c := create(t, s, "retired")
	if _, err := s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}); err != nil {
		t.Fatal(err)
	}
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "next"})
	r, err := s.certs().RotateCertificate(ctx, rotation(c.GetId(), leaf))
	if err != nil || r.GetCertificate().GetState() != "disabled" || r.GetCertificate().GetVersion() != 2 {
		t.Fatalf("rotate a disabled certificate: %v %v, want it still disabled at version 2", r, err)
	}

	// A CA is rotated with a new bundle, and stays a CA.
	oldCA, newCA := testpki.NewCA(t, "Backend CA 2024"), testpki.NewCA(t, "Backend CA 2025")
	ca, err := s.certs().CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: "backendCa",
		EnvironmentTypes: []string{"production"}, Ca: true, CertificatePem: string(oldCA.CertPEM)})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{EnvironmentType: "production"})
	w.snapshot()
	bundle := string(testpki.ChainPEM(newCA, oldCA))
	r, err = s.certs().RotateCertificate(ctx, &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: ca.GetCertificate().GetId(), CertificatePem: bundle})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetCertificate(); got.GetKind() != "ca" || got.GetVersion() != 2 || got.GetSubject() != "CN=Backend CA 2025" || got.GetCertificatePem() != bundle {
		t.Fatalf("rotated CA %v", got)
	}
	if ch := w.change(); ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED || len(ch.GetMaterial().GetPrivateKeyPkcs8()) != 0 ||
		ch.GetMaterial().GetCertificate().GetCertificatePem() != bundle {
		t.Fatalf("CA rotation change %v", ch)
	}
}

// TestBadRotationsChangeNothing sends refused rotations through the real API
// and checks that each leaves the revision and the certificate as they were.
func TestBadRotationsChangeNothing(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	root := testpki.NewCA(t, "Root")
	good := root.Issue(t, testpki.Options{CommonName: "good"})
	other := root.Issue(t, testpki.Options{CommonName: "other"})
	expired := root.Issue(t, testpki.Options{CommonName: "expired", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	leafCA := testpki.NewCA(t, "Leaf Check")
	client := create(t, s, "backendCert")
	caResp, err := s.certs().CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: "backendCa",
		EnvironmentTypes: []string{"production"}, Ca: true, CertificatePem: string(root.CertPEM)})
	if err != nil {
		t.Fatal(err)
	}
	ca := caResp.GetCertificate()
	globex, err := createKey(s, "globex")
	if err != nil {
		t.Fatal(err)
	}
	der := func(p []byte) string { b, _ := pem.Decode(p); return base64.StdEncoding.EncodeToString(b.Bytes) }

	cases := []struct {
		name     string
		key      string // API key; admin when empty
		target   *certmgrv1.Certificate
		mutate   func(r *certmgrv1.RotateCertificateRequest)
		code     codes.Code
		fragment string
	}{
		{"expired", "", client, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(expired.CertPEM), string(expired.KeyPEM)
		}, codes.InvalidArgument, "expired"},
		{"key of another certificate", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.PrivateKeyPem = string(other.KeyPEM) }, codes.InvalidArgument, "does not belong"},
		{"CA bundle into a client certificate", "", client, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(leafCA.CertPEM), string(leafCA.KeyPEM)
		}, codes.InvalidArgument, `cannot rotate client certificate "backendCert"`},
		{"CA bundle without key into a client certificate", "", client, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(leafCA.CertPEM), ""
		}, codes.InvalidArgument, "no private key"},
		{"key for a CA", "", ca, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(leafCA.CertPEM), string(leafCA.KeyPEM)
		}, codes.InvalidArgument, "take no private key"},
		{"PKCS#12 for a CA", "", ca, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = "", ""
			r.Pkcs12, r.Pkcs12Password = testpkcs12.Encode(t, good, nil, "pw"), "pw"
		}, codes.InvalidArgument, "take no private key"},
		{"client certificate into a CA", "", ca, func(r *certmgrv1.RotateCertificateRequest) { r.PrivateKeyPem = "" }, codes.InvalidArgument, "not a CA certificate"},
		{"DER without PEM armor", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.CertificatePem = der(good.CertPEM) }, codes.InvalidArgument, "PEM"},
		{"encrypted key, wrong passphrase", "", client, func(r *certmgrv1.RotateCertificateRequest) {
			r.PrivateKeyPem, r.PrivateKeyPassphrase = string(good.EncryptedKeyPEM(t, "s3cret")), "wrong"
		}, codes.InvalidArgument, "passphrase"},
		{"PKCS#12 wrong password", "", client, func(r *certmgrv1.RotateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = "", ""
			r.Pkcs12, r.Pkcs12Password = testpkcs12.Encode(t, good, nil, "right"), "wrong"
		}, codes.InvalidArgument, "password"},
		{"no material", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.CertificatePem, r.PrivateKeyPem = "", "" }, codes.InvalidArgument, "no certificate"},
		{"unknown id", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.Id = "crt_aaaaaaaaaaaaaaaaaaaaaaaa" }, codes.NotFound, "list"},
		{"malformed id", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.Id = "backendCert" }, codes.InvalidArgument, "--name"},
		{"other project", "", client, func(r *certmgrv1.RotateCertificateRequest) { r.Project = "other" }, codes.NotFound, ""},
		{"other account's key", globex, client, func(*certmgrv1.RotateCertificateRequest) {}, codes.PermissionDenied, `"acme"`},
		{"no key", "none", client, func(*certmgrv1.RotateCertificateRequest) {}, codes.Unauthenticated, ""},
	}
	get := func(id string) *certmgrv1.Certificate {
		t.Helper()
		r, err := s.certs().GetCertificate(ctx, &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetCertificate()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, rev := get(tc.target.GetId()), s.revision()
			r := &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: tc.target.GetId(),
				CertificatePem: string(good.CertPEM), PrivateKeyPem: string(good.KeyPEM)}
			tc.mutate(r)
			callCtx := ctx
			switch tc.key {
			case "":
			case "none":
				callCtx = context.Background()
			default:
				callCtx = as(tc.key)
			}
			_, err := s.certs().RotateCertificate(callCtx, r)
			wantCode(t, err, tc.code, tc.fragment)
			if after := s.revision(); after != rev {
				t.Fatalf("revision moved from %d to %d on a refused rotation", rev, after)
			}
			if after := get(tc.target.GetId()); !proto.Equal(after, before) {
				t.Fatalf("certificate changed by a refused rotation:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	// The base rotation is fine, so every refusal above came from its mutation.
	if _, err := s.certs().RotateCertificate(ctx, rotation(client.GetId(), good)); err != nil {
		t.Fatalf("base rotation refused: %v", err)
	}
}

// blockedRefs holds every reference check until release is closed.
type blockedRefs struct {
	asked   chan struct{}
	release chan struct{}
}

func (b *blockedRefs) CertificateReferences(ctx context.Context, _, _, _ string) ([]certs.Reference, error) {
	b.asked <- struct{}{}
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestRotateRefusedWhileDeleting(t *testing.T) {
	refs := &blockedRefs{asked: make(chan struct{}, 1), release: make(chan struct{})}
	s := startServer(t, func(c *certmgr.Config) { c.References = refs })
	ctx := as(adminKey)
	c := create(t, s, "leaving")
	deleted := make(chan error, 1)
	go func() {
		_, err := s.certs().DeleteCertificate(ctx, &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()})
		deleted <- err
	}()
	<-refs.asked // the certificate is marked deleting now
	rev := s.revision()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "too-late"})
	_, err := s.certs().RotateCertificate(ctx, rotation(c.GetId(), leaf))
	wantCode(t, err, codes.FailedPrecondition, "being deleted")
	if s.revision() != rev {
		t.Fatalf("revision moved from %d to %d on a refused rotation", rev, s.revision())
	}
	close(refs.release)
	if err := <-deleted; err != nil {
		t.Fatalf("delete: %v", err)
	}
}
