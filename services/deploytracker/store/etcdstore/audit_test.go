package etcdstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
)

var _ deploy.AuditTrail = (*Store)(nil)

// TestAuditTrailOnEtcd: a deploy and a delete each put their entry in
// their own transaction, with their revision; a refused deploy is
// recorded by itself; another replica lists the same trail, and another
// account's trail holds none of it.
func TestAuditTrailOnEtcd(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	st := open(t, cli, prefix)
	now := time.Now().UTC()
	rec := func(action string) store.AuditFunc {
		return func(ch store.Change) audit.Entry {
			return audit.Entry{Time: time.Now().UTC(), Actor: audit.ActorOf("admin"), Action: action, Result: audit.ResultOK,
				Resource: audit.Resource{Kind: audit.KindDeployment, Account: ch.Account, Project: ch.Project, ID: ch.DeploymentID, Name: "production"}}
		}
	}
	p := store.Pending{Token: "tok1", Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production", StartedAt: now}
	if err := st.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	d := &store.Deployment{Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production",
		Config: json.RawMessage(`{"routes": []}`), CreatedAt: now, UpdatedAt: now}
	deployed, err := st.CommitDeployAudited(rec("deployment.deploy"), p, d, "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordAudit(audit.Entry{Time: time.Now().UTC(), Actor: audit.ActorOf("acct_key1"), Action: "deployment.deploy", Result: audit.ResultRefused,
		Code: "FailedPrecondition", Resource: audit.Resource{Kind: audit.KindDeployment, Account: "acme", Project: "shop", Name: "production"}}); err != nil {
		t.Fatal(err)
	}
	deleted, err := st.DeleteDeploymentAudited(rec("deployment.delete"), "acme", "shop", "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Store{st, open(t, cli, prefix)} {
		entries, next, err := r.ListAudit(audit.Query{Account: "acme"}, time.Now())
		if err != nil || next != "" || len(entries) != 3 {
			t.Fatalf("ListAudit: %d entries, %v %q", len(entries), err, next)
		}
		del, refused, dep := entries[0], entries[1], entries[2]
		if dep.Action != "deployment.deploy" || dep.Result != audit.ResultOK || dep.Revision != deployed.Revision || dep.Resource.ID != "dep_1" {
			t.Errorf("deploy entry %+v, want revision %d", dep, deployed.Revision)
		}
		if refused.Result != audit.ResultRefused || refused.Actor.KeyID != "acct_key1" || refused.Revision != 0 {
			t.Errorf("refused entry %+v", refused)
		}
		if del.Action != "deployment.delete" || del.Revision != deleted.Revision {
			t.Errorf("delete entry %+v, want revision %d", del, deleted.Revision)
		}
	}
	if entries, _, err := st.ListAudit(audit.Query{Account: "other"}, time.Now()); err != nil || len(entries) != 0 {
		t.Errorf("another account's trail: %+v, %v", entries, err)
	}
	// The audit keys are no changes of the deployment stream.
	changes, _, _, err := st.ChangesSince(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var revs []uint64
	for _, c := range changes {
		revs = append(revs, c.Revision)
	}
	if len(revs) != 2 || revs[0] != deployed.Revision || revs[1] != deleted.Revision {
		t.Errorf("the stream holds changes at revisions %v, want the deploy's %d and the delete's %d only", revs, deployed.Revision, deleted.Revision)
	}
}
