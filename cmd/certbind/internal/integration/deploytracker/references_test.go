package deploytracker_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// TestReferencesNeedTheServiceKey checks that the deploytracker's
// ReferenceService, which certmgr asks before deleting a certificate,
// answers the service key only, and that its answer is what certmgr shows.
func TestReferencesNeedTheServiceKey(t *testing.T) {
	p := startPair(t)
	certID := p.createCert(t, certSpec{"acme", "shop", "myBackendCert", []string{"production"}, false})
	unused := p.createCert(t, certSpec{"acme", "shop", "unusedCert", []string{"production"}, false})
	d := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "prod", EnvironmentType: "production",
		Config: forward(t, "myBackendCert", "")})
	ask := &deploytrackerv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", CertificateId: certID}

	for _, tc := range []struct {
		name string
		key  string
		code codes.Code
	}{
		{"admin key", adminKey, codes.PermissionDenied},
		{"account key", p.apiKey(t, "acme", ""), codes.PermissionDenied},
		{"edge key", p.apiKey(t, "acme", "edge"), codes.PermissionDenied},
		{"unknown key", "cbk_not-a-key", codes.Unauthenticated},
		{"no key", "", codes.Unauthenticated},
	} {
		refs := deploytrackerv1.NewReferenceServiceClient(p.dialDeploytracker(t, tc.key))
		resp, err := refs.ListCertificateReferences(callCtx(t), ask)
		if status.Code(err) != tc.code {
			t.Errorf("%s: ListCertificateReferences = %v, %v; want %v", tc.name, resp, err, tc.code)
		}
	}

	refs := deploytrackerv1.NewReferenceServiceClient(p.dialDeploytracker(t, serviceKey))
	resp, err := refs.ListCertificateReferences(callCtx(t), ask)
	if err != nil {
		t.Fatalf("service key: %v", err)
	}
	uses := resp.GetUses()
	if len(uses) != 1 || uses[0].GetDeploymentId() != d.GetId() || uses[0].GetEnvironment() != "prod" ||
		uses[0].GetEnvironmentType() != "production" || uses[0].GetInProgress() {
		t.Errorf("uses = %v, want the committed prod deployment %s", uses, d.GetId())
	}
	if resp, err := refs.ListCertificateReferences(callCtx(t), &deploytrackerv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", CertificateId: unused}); err != nil || len(resp.GetUses()) != 0 {
		t.Errorf("uses of an unused certificate = %v, %v", resp.GetUses(), err)
	}
	// Another project's view of the same id is empty.
	if resp, err := refs.ListCertificateReferences(callCtx(t), &deploytrackerv1.ListCertificateReferencesRequest{Account: "acme", Project: "other", CertificateId: certID}); err != nil || len(resp.GetUses()) != 0 {
		t.Errorf("uses seen from another project = %v, %v", resp.GetUses(), err)
	}
	if _, err := refs.ListCertificateReferences(callCtx(t), &deploytrackerv1.ListCertificateReferencesRequest{Account: "Acme", Project: "shop", CertificateId: certID}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid account: %v, want InvalidArgument", err)
	}

	// certmgr, asking with the service key, shows the same and refuses the delete.
	viaCertmgr, err := p.certs.ListCertificateReferences(callCtx(t), &certmgrv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", Id: certID})
	if err != nil {
		t.Fatal(err)
	}
	if r := viaCertmgr.GetReferences(); len(r) != 1 || r[0].GetDeploymentId() != d.GetId() {
		t.Errorf("certmgr's references = %v", r)
	}
	if _, err := p.certs.DeleteCertificate(callCtx(t), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: certID}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("delete of a referenced certificate = %v, want FailedPrecondition", err)
	}
}

// TestRestartDropsInterruptedDeploys puts a deploy in progress in the
// store while the deploytracker is down, as a crash between recording the
// intent and committing leaves it, and checks that the restarted service
// drops it: it was never acknowledged, and it must not block a delete.
func TestRestartDropsInterruptedDeploys(t *testing.T) {
	p := startPair(t)
	certID := p.createCert(t, certSpec{"acme", "shop", "myBackendCert", []string{"production"}, false})
	refs := deploytrackerv1.NewReferenceServiceClient(p.dialDeploytracker(t, serviceKey))
	ask := &deploytrackerv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", CertificateId: certID}

	p.stopDeploytracker(t)
	st, err := store.Open(filepath.Join(p.dtCfg.DataDir, "deploytracker.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.BeginDeploy(store.Pending{Token: "p_crashed", Account: "acme", Project: "shop", Environment: "prod", EnvironmentType: "production",
		References: []store.Reference{{CertificateID: certID, CertificateName: "myBackendCert", Kind: "client", RoutePath: "/api/*", Option: "mtlsCertificate"}}})
	if err != nil {
		t.Fatal(err)
	}
	if uses, err := st.References("acme", "shop", certID); err != nil || len(uses) != 1 {
		t.Fatalf("the planted deploy is not in progress: %v, %v", uses, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	p.startDeploytracker(t)

	resp, err := refs.ListCertificateReferences(callCtx(t), ask, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetUses()) != 0 {
		t.Errorf("after the restart the interrupted deploy still references the certificate: %v", resp.GetUses())
	}
	if rev := p.revision(t); rev != 0 {
		t.Errorf("dropping the interrupted deploy wrote revision %d", rev)
	}
	if list := p.list(t); len(list.GetDeployments()) != 0 {
		t.Errorf("the interrupted deploy became a deployment: %v", list)
	}
	if _, err := p.certs.DeleteCertificate(callCtx(t), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: certID}, grpc.WaitForReady(true)); err != nil {
		t.Errorf("delete after the restart: %v", err)
	}
}
