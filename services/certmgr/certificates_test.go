package certmgr_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func TestCertificateLifecycle(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	req, leaf := clientUpload(t, "myBackendCert")
	created, err := s.certs().CreateCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c := created.GetCertificate()
	if !strings.HasPrefix(c.GetId(), "crt_") || c.GetName() != "myBackendCert" || c.GetState() != "active" || c.GetKind() != "client" || c.GetVersion() != 1 {
		t.Fatalf("unexpected certificate: %v", c)
	}
	if got := strings.Join(c.GetEnvironmentTypes(), ","); got != "development,production" {
		t.Fatalf("environment types %q, want canonical order development,production", got)
	}
	if c.GetSerialNumber() != leaf.Cert.SerialNumber.Text(16) || c.GetNotAfter().AsTime().Unix() != leaf.Cert.NotAfter.Unix() {
		t.Fatalf("metadata does not match the leaf: %v", c)
	}
	if c.GetDaysUntilExpiry() < 88 || c.GetDaysUntilExpiry() > 90 || c.GetExpiringSoon() {
		t.Fatalf("days until expiry %d, expiring soon %v; want ~89 and false", c.GetDaysUntilExpiry(), c.GetExpiringSoon())
	}
	ref := func() *certmgrv1.GetCertificateRequest {
		return &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()}
	}

	// Duplicate names are refused.
	dup, _ := clientUpload(t, "myBackendCert")
	_, err = s.certs().CreateCertificate(ctx, dup)
	wantCode(t, err, codes.AlreadyExists, "myBackendCert")

	got, err := s.certs().GetCertificate(ctx, ref())
	if err != nil || got.GetCertificate().GetFingerprintSha256() != c.GetFingerprintSha256() {
		t.Fatalf("get: %v %v", got, err)
	}

	up, err := s.certs().UpdateCertificate(ctx, &certmgrv1.UpdateCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId(), EnvironmentTypes: []string{"preview"}})
	if err != nil || strings.Join(up.GetCertificate().GetEnvironmentTypes(), ",") != "preview" {
		t.Fatalf("update: %v %v", up, err)
	}
	dis, err := s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()})
	if err != nil || dis.GetCertificate().GetState() != "disabled" {
		t.Fatalf("disable: %v %v", dis, err)
	}
	list, err := s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop", State: "active"})
	if err != nil || len(list.GetCertificates()) != 0 {
		t.Fatalf("list active after disable: %v %v", list, err)
	}
	en, err := s.certs().EnableCertificate(ctx, &certmgrv1.EnableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()})
	if err != nil || en.GetCertificate().GetState() != "active" {
		t.Fatalf("enable: %v %v", en, err)
	}
	del, err := s.certs().DeleteCertificate(ctx, &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: c.GetId()})
	if err != nil || del.GetId() != c.GetId() {
		t.Fatalf("delete: %v %v", del, err)
	}
	_, err = s.certs().GetCertificate(ctx, ref())
	wantCode(t, err, codes.NotFound, "")
	// The name is free again.
	if _, err := s.certs().CreateCertificate(ctx, dup); err != nil {
		t.Fatalf("recreate after delete: %v", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	ca := testpki.NewCA(t, "Root")
	upload := func(name string, notAfter time.Time, types ...string) {
		leaf := ca.Issue(t, testpki.Options{CommonName: name, NotAfter: notAfter})
		_, err := s.certs().CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{
			Account: "acme", Project: "shop", Name: name, EnvironmentTypes: types,
			CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	upload("alpha", now.Add(10*24*time.Hour), "production")
	upload("bravo", now.Add(200*24*time.Hour), "development")
	upload("charlie", now.Add(20*24*time.Hour), "development", "production")
	upload("delta", now.Add(400*24*time.Hour), "preview")

	names := func(r *certmgrv1.ListCertificatesResponse) string {
		var out []string
		for _, c := range r.GetCertificates() {
			out = append(out, c.GetName())
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		req  *certmgrv1.ListCertificatesRequest
		want string
	}{
		{&certmgrv1.ListCertificatesRequest{}, "alpha,bravo,charlie,delta"},
		{&certmgrv1.ListCertificatesRequest{EnvironmentType: "production"}, "alpha,charlie"},
		{&certmgrv1.ListCertificatesRequest{ExpiringWithinDays: 30}, "alpha,charlie"},
		{&certmgrv1.ListCertificatesRequest{ExpiringWithinDays: 30, EnvironmentType: "development"}, "charlie"},
		{&certmgrv1.ListCertificatesRequest{Name: "delta"}, "delta"},
	} {
		tc.req.Account, tc.req.Project = "acme", "shop"
		r, err := s.certs().ListCertificates(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(r); got != tc.want {
			t.Errorf("list %v = %q, want %q", tc.req, got, tc.want)
		}
		for _, c := range r.GetCertificates() {
			if c.GetExpiringSoon() != (c.GetName() == "alpha" || c.GetName() == "charlie") {
				t.Errorf("%s: expiringSoon = %v", c.GetName(), c.GetExpiringSoon())
			}
		}
	}
	// Pages of two cover everything once, in order.
	var all []string
	token := ""
	for range 5 {
		r, err := s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, names(r))
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if got := strings.Join(all, "|"); got != "alpha,bravo|charlie,delta" {
		t.Fatalf("pages = %q", got)
	}
	_, err := s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop", PageToken: "!!"})
	wantCode(t, err, codes.InvalidArgument, "page token")
	_, err = s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop", State: "gone"})
	wantCode(t, err, codes.InvalidArgument, "active or disabled")
}

// TestBadUploadsChangeNothing sends broken uploads through the real API and
// checks each answer, and that nothing at all was written.
func TestBadUploadsChangeNothing(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	ca := testpki.NewCA(t, "Good Root")
	other := testpki.NewCA(t, "Other Root")
	inter := ca.Issue(t, testpki.Options{CommonName: "Intermediate", IsCA: true})
	good := ca.Issue(t, testpki.Options{CommonName: "good"})
	viaInter := inter.Issue(t, testpki.Options{CommonName: "via-intermediate"})
	expired := ca.Issue(t, testpki.Options{CommonName: "expired", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	future := ca.Issue(t, testpki.Options{CommonName: "future", NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	serverOnly := ca.Issue(t, testpki.Options{CommonName: "server-only", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	rsa1024 := ca.Issue(t, testpki.Options{CommonName: "weak", KeyType: testpki.RSA1024})
	p521 := ca.Issue(t, testpki.Options{CommonName: "p521", KeyType: testpki.ECDSAP521})
	der := func(p []byte) string { b, _ := pem.Decode(p); return string(b.Bytes) }

	base := func() *certmgrv1.CreateCertificateRequest {
		return &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: "backendCert",
			EnvironmentTypes: []string{"production"}, CertificatePem: string(good.CertPEM), PrivateKeyPem: string(good.KeyPEM)}
	}
	cases := []struct {
		name     string
		mutate   func(r *certmgrv1.CreateCertificateRequest)
		code     codes.Code
		fragment string
	}{
		{"name with dashes", func(r *certmgrv1.CreateCertificateRequest) { r.Name = "my-backend-cert" }, codes.InvalidArgument, `"myBackendCert"`},
		{"reserved word", func(r *certmgrv1.CreateCertificateRequest) { r.Name = "class" }, codes.InvalidArgument, "reserved"},
		{"empty name", func(r *certmgrv1.CreateCertificateRequest) { r.Name = "" }, codes.InvalidArgument, "name"},
		{"leading digit", func(r *certmgrv1.CreateCertificateRequest) { r.Name = "1cert" }, codes.InvalidArgument, "_1cert"},
		{"bad account", func(r *certmgrv1.CreateCertificateRequest) { r.Account = "Acme Corp" }, codes.InvalidArgument, "account"},
		{"bad project", func(r *certmgrv1.CreateCertificateRequest) { r.Project = "" }, codes.InvalidArgument, "project"},
		{"no environment type", func(r *certmgrv1.CreateCertificateRequest) { r.EnvironmentTypes = nil }, codes.InvalidArgument, "environment type"},
		{"unknown environment type", func(r *certmgrv1.CreateCertificateRequest) { r.EnvironmentTypes = []string{"staging"} }, codes.InvalidArgument, "development"},
		{"no certificate", func(r *certmgrv1.CreateCertificateRequest) { r.CertificatePem = "" }, codes.InvalidArgument, "certificate"},
		// Raw DER cannot travel in a JSON or proto string; the CLI catches
		// DER files before upload. Base64 without the PEM lines can.
		{"PEM body without BEGIN line", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem = base64.StdEncoding.EncodeToString([]byte(der(good.CertPEM)))
		}, codes.InvalidArgument, "PEM"},
		{"garbage certificate", func(r *certmgrv1.CreateCertificateRequest) { r.CertificatePem = "hello" }, codes.InvalidArgument, "PEM"},
		{"expired", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(expired.CertPEM), string(expired.KeyPEM)
		}, codes.InvalidArgument, "expired"},
		{"not yet valid", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(future.CertPEM), string(future.KeyPEM)
		}, codes.InvalidArgument, "not valid until"},
		{"server auth only", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(serverOnly.CertPEM), string(serverOnly.KeyPEM)
		}, codes.InvalidArgument, "clientAuth"},
		{"CA as leaf", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(ca.CertPEM), string(ca.KeyPEM)
		}, codes.InvalidArgument, "--ca"},
		{"wrong order", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(testpki.ChainPEM(inter, viaInter)), string(viaInter.KeyPEM)
		}, codes.InvalidArgument, "first"},
		{"unrelated intermediate", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem = string(testpki.ChainPEM(good, other))
		}, codes.InvalidArgument, "certificate 2"},
		{"key does not match", func(r *certmgrv1.CreateCertificateRequest) { r.PrivateKeyPem = string(viaInter.KeyPEM) }, codes.InvalidArgument, "does not belong"},
		{"RSA 1024", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(rsa1024.CertPEM), string(rsa1024.KeyPEM)
		}, codes.InvalidArgument, "2048"},
		{"P-521", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = string(p521.CertPEM), string(p521.KeyPEM)
		}, codes.InvalidArgument, "P-256"},
		{"no key", func(r *certmgrv1.CreateCertificateRequest) { r.PrivateKeyPem = "" }, codes.InvalidArgument, "key"},
		{"key in certificate field", func(r *certmgrv1.CreateCertificateRequest) { r.CertificatePem = string(good.KeyPEM) }, codes.InvalidArgument, "--key"},
		{"encrypted key without passphrase", func(r *certmgrv1.CreateCertificateRequest) {
			r.PrivateKeyPem = string(good.EncryptedKeyPEM(t, "s3cret"))
		}, codes.InvalidArgument, "--key-passphrase"},
		{"encrypted key, wrong passphrase", func(r *certmgrv1.CreateCertificateRequest) {
			r.PrivateKeyPem, r.PrivateKeyPassphrase = string(good.EncryptedKeyPEM(t, "s3cret")), "wrong"
		}, codes.InvalidArgument, "passphrase"},
		{"oversized certificate", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem = strings.Repeat(string(good.CertPEM), 200)
		}, codes.InvalidArgument, "KiB"},
		{"PKCS#12 wrong password", func(r *certmgrv1.CreateCertificateRequest) {
			r.CertificatePem, r.PrivateKeyPem = "", ""
			r.Pkcs12, r.Pkcs12Password = testpkcs12.Encode(t, good, nil, "right"), "wrong"
		}, codes.InvalidArgument, "password"},
		{"PKCS#12 and PEM together", func(r *certmgrv1.CreateCertificateRequest) {
			r.Pkcs12, r.Pkcs12Password = testpkcs12.Encode(t, good, nil, "right"), "right"
		}, codes.InvalidArgument, "PKCS#12"},
		{"CA upload with a key", func(r *certmgrv1.CreateCertificateRequest) {
			r.Ca, r.CertificatePem = true, string(ca.CertPEM)
		}, codes.InvalidArgument, "no private key"},
		{"CA upload of a leaf", func(r *certmgrv1.CreateCertificateRequest) {
			r.Ca, r.CertificatePem, r.PrivateKeyPem = true, string(good.CertPEM), ""
		}, codes.InvalidArgument, "CA"},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.revision()
			r := base()
			tc.mutate(r)
			_, err := s.certs().CreateCertificate(ctx, r)
			wantCode(t, err, tc.code, tc.fragment)
			if after := s.revision(); after != before {
				t.Fatalf("revision moved from %d to %d on a refused upload", before, after)
			}
			list, err := s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"})
			if err != nil || len(list.GetCertificates()) != 0 {
				t.Fatalf("store not empty after a refused upload: %v %v", list, err)
			}
		})
	}
	// The same base upload is fine, so every refusal above came from its mutation.
	if _, err := s.certs().CreateCertificate(ctx, base()); err != nil {
		t.Fatalf("base upload refused: %v", err)
	}
}

func TestUploadFormats(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	ca := testpki.NewCA(t, "Root")
	inter := ca.Issue(t, testpki.Options{CommonName: "Intermediate", IsCA: true})
	leaf := inter.Issue(t, testpki.Options{CommonName: "leaf", KeyType: testpki.RSA2048})
	ed := ca.Issue(t, testpki.Options{CommonName: "ed", KeyType: testpki.Ed25519})
	for i, r := range []*certmgrv1.CreateCertificateRequest{
		{CertificatePem: string(testpki.ChainPEM(leaf, inter)), PrivateKeyPem: string(leaf.KeyPEMPKCS1(t))},
		{CertificatePem: string(ed.CertPEM), PrivateKeyPem: string(ed.EncryptedKeyPEM(t, "pw")), PrivateKeyPassphrase: "pw"},
		{Pkcs12: testpkcs12.Encode(t, leaf, []*testpki.Cert{inter}, "pw"), Pkcs12Password: "pw"},
		{Ca: true, CertificatePem: string(testpki.ChainPEM(ca, inter))},
	} {
		r.Account, r.Project, r.EnvironmentTypes = "acme", "shop", []string{"development"}
		r.Name = "cert" + string(rune('A'+i))
		c, err := s.certs().CreateCertificate(ctx, r)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if r.Ca && c.GetCertificate().GetKind() != "ca" {
			t.Fatalf("CA upload: %v", c)
		}
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	req, _ := clientUpload(t, "persisted")
	c, err := s.certs().CreateCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	key, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	rev := s.revision()
	s.restart()
	got, err := s.certs().GetCertificate(as(key), &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: c.GetCertificate().GetId()})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.GetCertificate().GetFingerprintSha256() != c.GetCertificate().GetFingerprintSha256() || s.revision() != rev {
		t.Fatalf("after restart: %v, revision %d want %d", got, s.revision(), rev)
	}
	// Revisions go on from where they were.
	req2, _ := clientUpload(t, "second")
	c2, err := s.certs().CreateCertificate(ctx, req2)
	if err != nil || c2.GetCertificate().GetRevision() <= rev || s.revision() != c2.GetCertificate().GetRevision() {
		t.Fatalf("next write after restart: %v %v, want a revision after %d that is the head", c2, err, rev)
	}
}

// TestNoPrivateKeyOnDisk scans the bbolt file for any form of the uploaded
// private keys: PEM body, DER, base64 of the DER.
func TestNoPrivateKeyOnDisk(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	var keys []*testpki.Cert
	for _, name := range []string{"diskA", "diskB", "diskC"} {
		req, leaf := clientUpload(t, name)
		if _, err := s.certs().CreateCertificate(ctx, req); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, leaf)
	}
	s.stop()
	db, err := os.ReadFile(filepath.Join(s.dir, "data", "certmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(k.KeyPEM)
		for what, needle := range map[string][]byte{
			"PKCS#8 DER":    der,
			"PEM body":      []byte(base64.StdEncoding.EncodeToString(block.Bytes)[:64]),
			"PEM file":      k.KeyPEM[:60],
			"DER tail":      der[len(der)-32:],
			"base64 of DER": []byte(base64.StdEncoding.EncodeToString(der)[8:72]),
		} {
			if bytes.Contains(db, needle) {
				t.Errorf("the store file holds the private key's %s", what)
			}
		}
		// The public certificate is there, so the scan reads the right file.
		if !bytes.Contains(db, []byte(base64.StdEncoding.EncodeToString(k.CertPEM)[:40])) {
			t.Errorf("the scan did not find the public certificate either: wrong file?")
		}
	}
	if strings.Contains(s.logs.String(), "PRIVATE KEY") {
		t.Errorf("a log line holds a private key")
	}
}

func TestAuditLines(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	req, leaf := clientUpload(t, "audited")
	c, err := s.certs().CreateCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetCertificate().GetId()}); err != nil {
		t.Fatal(err)
	}
	logs := s.logs.String()
	for _, want := range []string{`"action":"certificate.create"`, `"action":"certificate.disable"`, `"actor":"admin"`, `"certificateId":"` + c.GetCertificate().GetId() + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	block, _ := pem.Decode(leaf.KeyPEM)
	if strings.Contains(logs, base64.StdEncoding.EncodeToString(block.Bytes)[:32]) || strings.Contains(logs, "PRIVATE KEY") {
		t.Errorf("logs hold key material")
	}
}
