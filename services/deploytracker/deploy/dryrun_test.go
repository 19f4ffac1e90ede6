package deploy_test

import (
	"context"
	"strings"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestDryRunRecordsNothing checks that DryRun makes the deploy's checks,
// answers with the deployment a deploy would record, and writes nothing:
// not even the deploy-in-progress record that a real deploy writes before
// its second look at certmgr.
func TestDryRunRecordsNothing(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, st := newTracker(t, certs)
	ctx := context.Background()
	d, err := tr.DryRun(ctx, input("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "" || d.Generation != 1 || d.Revision != 0 || len(d.References) != 2 || d.References[0].CertificateID != "crt_1" {
		t.Errorf("dry run = id %q generation %d revision %d references %+v", d.ID, d.Generation, d.Revision, d.References)
	}
	if n := certs.callCount(); n != 1 {
		t.Errorf("certmgr asked %d times, want the one look by name", n)
	}
	assertNothingRecorded(t, tr, st, "crt_1", "crt_2")

	real, err := tr.Deploy(ctx, "test", input("prod"))
	if err != nil {
		t.Fatal(err)
	}
	head, _ := st.Revision()
	d, err = tr.DryRun(ctx, input("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != real.ID || d.Generation != 2 || !d.CreatedAt.Equal(real.CreatedAt) || d.Revision != 0 {
		t.Errorf("dry run over generation 1 = id %q generation %d created %s, want id %q generation 2 created %s",
			d.ID, d.Generation, d.CreatedAt, real.ID, real.CreatedAt)
	}
	if now, _ := st.Revision(); now != head {
		t.Errorf("revision %d after a dry run, want %d", now, head)
	}

	certs.set("crt_2", func(c *certmgrv1.Certificate) { c.State = "disabled" })
	if _, err := tr.DryRun(ctx, input("prod")); err == nil || !strings.Contains(err.Error(), `certificate "myBackendCert" is disabled`) {
		t.Errorf("dry run with a disabled certificate: %v", err)
	}
}
