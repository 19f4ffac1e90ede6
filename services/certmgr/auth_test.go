package certmgr_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func createKey(s *server, account string, role ...string) (string, error) {
	r := &certmgrv1.CreateApiKeyRequest{Account: account}
	if len(role) > 0 {
		r.Role = role[0]
	}
	resp, err := certmgrv1.NewApiKeyServiceClient(s.conn).CreateApiKey(as(adminKey), r)
	return resp.GetKey(), err
}

func TestAuthentication(t *testing.T) {
	s := startServer(t)
	list := &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"}
	_, err := s.certs().ListCertificates(context.Background(), list)
	wantCode(t, err, codes.Unauthenticated, "Authorization: Bearer")
	_, err = s.certs().ListCertificates(as("cbk_not-a-key"), list)
	wantCode(t, err, codes.Unauthenticated, "not valid")
	basic := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Basic "+adminKey)
	_, err = s.certs().ListCertificates(basic, list)
	wantCode(t, err, codes.Unauthenticated, "Bearer")
	// Health needs no key.
	if _, err := healthpb.NewHealthClient(s.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health: %v", err)
	}
}

func TestAccountIsolation(t *testing.T) {
	s := startServer(t)
	acme, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := createKey(s, "globex")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := clientUpload(t, "acmeCert")
	c, err := s.certs().CreateCertificate(as(acme), req)
	if err != nil {
		t.Fatal(err)
	}
	id := c.GetCertificate().GetId()

	// globex's key gets the same answer for acme's certificate as for one
	// that does not exist, so it learns nothing.
	_, errReal := s.certs().GetCertificate(as(globex), &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: id})
	_, errMissing := s.certs().GetCertificate(as(globex), &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: "crt_aaaaaaaaaaaaaaaaaaaaaaaa"})
	_, errNoAccount := s.certs().GetCertificate(as(globex), &certmgrv1.GetCertificateRequest{Account: "initech", Project: "shop", Id: id})
	wantCode(t, errReal, codes.PermissionDenied, `account "acme"`)
	if errReal.Error() != errMissing.Error() {
		t.Fatalf("answers differ: %q vs %q", errReal, errMissing)
	}
	wantCode(t, errNoAccount, codes.PermissionDenied, "")

	for name, call := range map[string]func() error{
		"list": func() error {
			_, err := s.certs().ListCertificates(as(globex), &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"})
			return err
		},
		"create": func() error {
			r, _ := clientUpload(t, "intruder")
			_, err := s.certs().CreateCertificate(as(globex), r)
			return err
		},
		"disable": func() error {
			_, err := s.certs().DisableCertificate(as(globex), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: id})
			return err
		},
		"update": func() error {
			_, err := s.certs().UpdateCertificate(as(globex), &certmgrv1.UpdateCertificateRequest{Account: "acme", Project: "shop", Id: id, EnvironmentTypes: []string{"preview"}})
			return err
		},
		"delete": func() error {
			_, err := s.certs().DeleteCertificate(as(globex), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: id})
			return err
		},
		"create api key": func() error {
			_, err := certmgrv1.NewApiKeyServiceClient(s.conn).CreateApiKey(as(acme), &certmgrv1.CreateApiKeyRequest{Account: "acme"})
			return err
		},
	} {
		if err := call(); err == nil || codes.PermissionDenied != statusCode(err) {
			t.Errorf("%s with another account's key: %v, want PermissionDenied", name, err)
		}
	}
	// acme's own key sees its certificate; globex's list of its own is empty.
	if _, err := s.certs().GetCertificate(as(acme), &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: id}); err != nil {
		t.Fatal(err)
	}
	l, err := s.certs().ListCertificates(as(globex), &certmgrv1.ListCertificatesRequest{Account: "globex", Project: "shop"})
	if err != nil || len(l.GetCertificates()) != 0 {
		t.Fatalf("globex list: %v %v", l, err)
	}
	// Account keys never receive private keys.
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(acme), &certmgrv1.WatchCertificatesRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "edge key")
	// An edge key for globex may not watch acme.
	edge, err := createKey(s, "globex", "edge")
	if err != nil {
		t.Fatal(err)
	}
	stream, err = certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(edge), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "")
	// And an edge key may not manage certificates.
	_, err = s.certs().ListCertificates(as(edge), &certmgrv1.ListCertificatesRequest{Account: "globex", Project: "shop"})
	wantCode(t, err, codes.PermissionDenied, "")
}
