package deploy_test

import (
	"context"
	"testing"

	"github.com/certbind/certbind/internal/audit"
)

// A deploy's commit and a delete each keep one entry in their own
// transaction; a deploy that fails keeps none here (the API keeps the
// refusal, with the status the caller got).
func TestDeployAndDeleteAreAudited(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, _ := newTracker(t, certs)
	d, err := tr.Deploy(context.Background(), "key_1", input("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Deploy(context.Background(), "key_1", input("Not Valid")); err == nil {
		t.Fatal("a deploy to an invalid environment name succeeded")
	}
	if _, err := tr.Delete(context.Background(), "admin", "acme", "shop", d.ID); err != nil {
		t.Fatal(err)
	}
	entries, next, err := tr.ListAudit(audit.Query{Account: "acme"})
	if err != nil || next != "" || len(entries) != 2 {
		t.Fatalf("entries %+v, next %q, %v; want a delete and a deploy", entries, next, err)
	}
	del, dep := entries[0], entries[1]
	if del.Action != "deployment.delete" || del.Actor != (audit.Actor{KeyID: "admin", Role: audit.RoleAdmin}) || del.Resource.ID != d.ID || del.Resource.Name != "prod" || del.Revision == 0 {
		t.Errorf("delete entry %+v", del)
	}
	if dep.Action != "deployment.deploy" || dep.Actor != (audit.Actor{KeyID: "key_1", Role: audit.RoleAccount}) || dep.Resource.Kind != audit.KindDeployment ||
		dep.Resource.Project != "shop" || dep.Result != audit.ResultOK || dep.Revision != d.Revision {
		t.Errorf("deploy entry %+v", dep)
	}
}
