package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// TestVerifyReportsLeftOverDeploys: a deploy in progress older than
// LeftOverAfter is a warning; a younger one is only counted.
func TestVerifyReportsLeftOverDeploys(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, st := newTracker(t, certs)
	if _, err := tr.Deploy(context.Background(), "test", input("prod")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) // newTracker's clock
	for _, p := range []store.Pending{
		{Token: "old", Account: "acme", Project: "shop", Environment: "stuck", EnvironmentType: "production", StartedAt: now.Add(-10 * time.Minute)},
		{Token: "new", Account: "acme", Project: "shop", Environment: "running", EnvironmentType: "production", StartedAt: now.Add(-time.Second)},
	} {
		if err := st.BeginDeploy(p); err != nil {
			t.Fatal(err)
		}
	}
	r, err := tr.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Check != "deploy_in_progress_left_over" || r.Findings[0].Environment != "stuck" ||
		r.Findings[0].Severity != "warning" || !strings.Contains(r.Findings[0].Message, "10m0s") {
		t.Fatalf("findings %+v, want the stuck deploy as a warning", r.Findings)
	}
	if r.InProgress != 2 || r.Deployments != 1 || r.References != 2 {
		t.Fatalf("counts %+v", r)
	}
}
