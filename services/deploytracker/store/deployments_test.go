package store_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/services/deploytracker/store"
)

func TestCommitNeedsThePendingRecord(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	p := pending("p1", "prod", "production", "crt_a")

	// Never begun: nothing to commit.
	if _, err := s.CommitDeploy(p, deployment(p, t0), "dep_1"); !errors.Is(err, store.ErrPendingGone) {
		t.Fatalf("commit without BeginDeploy = %v, want ErrPendingGone", err)
	}
	// Begun, then aborted: gone again.
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortDeploy(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitDeploy(p, deployment(p, t0), "dep_1"); !errors.Is(err, store.ErrPendingGone) {
		t.Fatalf("commit after AbortDeploy = %v, want ErrPendingGone", err)
	}
	if rev := revision(t, s); rev != 0 {
		t.Fatalf("refused commits moved the revision to %d", rev)
	}

	// Begun: commits once, and the record is consumed by the commit.
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	ch, err := s.CommitDeploy(p, deployment(p, t0), "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Revision != 1 || ch.Type != store.ChangeDeployed || ch.DeploymentID != "dep_1" || ch.Before != nil || ch.After == nil {
		t.Fatalf("first commit = %+v", ch)
	}
	if a := ch.After; a.ID != "dep_1" || a.Generation != 1 || a.Revision != 1 || !a.CreatedAt.Equal(t0) {
		t.Errorf("first deployment = %+v, want id dep_1, generation 1, revision 1", a)
	}
	if _, err := s.CommitDeploy(p, deployment(p, t0), "dep_x"); !errors.Is(err, store.ErrPendingGone) {
		t.Fatalf("second commit of one deploy = %v, want ErrPendingGone", err)
	}
	if rev := revision(t, s); rev != 1 {
		t.Fatalf("revision = %d after one commit, want 1", rev)
	}
}

func TestRedeployKeepsIdentity(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	first := deploy(t, s, pending("p1", "prod", "production", "crt_a"), t0, "dep_1")

	later := t0.Add(time.Hour)
	p2 := pending("p2", "prod", "production", "crt_b")
	if err := s.BeginDeploy(p2); err != nil {
		t.Fatal(err)
	}
	d := deployment(p2, later)
	second, err := s.CommitDeploy(p2, d, "dep_new")
	if err != nil {
		t.Fatal(err)
	}
	a := second.After
	switch {
	case second.Revision != 2 || a.Revision != 2:
		t.Errorf("redeploy at revision %d (record %d), want 2", second.Revision, a.Revision)
	case a.ID != "dep_1" || second.DeploymentID != "dep_1":
		t.Errorf("redeploy id = %q, want the environment's id dep_1 (newID is for a first deploy only)", a.ID)
	case a.Generation != 2:
		t.Errorf("generation = %d, want 2", a.Generation)
	case !a.CreatedAt.Equal(t0) || !a.UpdatedAt.Equal(later):
		t.Errorf("createdAt %v updatedAt %v, want %v and %v", a.CreatedAt, a.UpdatedAt, t0, later)
	case second.Before == nil || second.Before.Revision != first.Revision || second.Before.References[0].CertificateID != "crt_a":
		t.Errorf("redeploy Before = %+v, want the first deployment", second.Before)
	}
	if d.ID != "" || d.Generation != 0 {
		t.Errorf("CommitDeploy changed the caller's record: %+v", d)
	}

	third := deploy(t, s, pending("p3", "prod", "production"), later, "dep_other")
	if third.Revision != 3 || third.After.ID != "dep_1" || third.After.Generation != 3 {
		t.Errorf("third deploy: revision %d id %q generation %d, want 3 dep_1 3", third.Revision, third.After.ID, third.After.Generation)
	}
	got, err := s.GetDeployment("acme", "shop", "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 3 || len(got.References) != 0 {
		t.Errorf("stored deployment = %+v, want generation 3 with no references", got)
	}
	if _, err := s.GetDeployment("acme", "shop", "dep_new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the unused newID of a redeploy resolves: %v", err)
	}
}

func TestEachWriteTakesTheNextRevision(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	deploy(t, s, pending("p1", "prod", "production"), t0, "dep_1")
	deploy(t, s, pending("p2", "dev", "development"), t0, "dep_2")
	if _, err := s.DeleteDeployment("acme", "shop", "dep_1"); err != nil {
		t.Fatal(err)
	}
	deploy(t, s, pending("p3", "dev", "development"), t0, "dep_3")

	changes, compacted, head, err := s.ChangesSince(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if compacted != 0 || head != 4 {
		t.Fatalf("compacted %d head %d, want 0 and 4", compacted, head)
	}
	want := []struct {
		typ, id string
	}{{store.ChangeDeployed, "dep_1"}, {store.ChangeDeployed, "dep_2"}, {store.ChangeDeleted, "dep_1"}, {store.ChangeDeployed, "dep_2"}}
	if len(changes) != len(want) {
		t.Fatalf("%d changes, want %d", len(changes), len(want))
	}
	for i, c := range changes {
		if c.Revision != uint64(i+1) || c.Type != want[i].typ || c.DeploymentID != want[i].id {
			t.Errorf("change %d = rev %d %s %s, want rev %d %s %s", i, c.Revision, c.Type, c.DeploymentID, i+1, want[i].typ, want[i].id)
		}
	}
	if changes[2].Before == nil || changes[2].After != nil {
		t.Errorf("delete change carries Before %v After %v, want only Before", changes[2].Before, changes[2].After)
	}

	// Reading from the middle, in batches.
	changes, _, _, err = s.ChangesSince(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Revision != 3 {
		t.Errorf("ChangesSince(2, 1) = %+v, want revision 3 only", changes)
	}
}

func TestReferencesCountCommittedAndInProgress(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	committed := deploy(t, s, pending("p1", "prod", "production", "crt_a", "crt_b"), t0, "dep_1")

	// A redeploy of prod and a first deploy of dev are in progress.
	redeploy := pending("p2", "prod", "production", "crt_a")
	first := pending("p3", "dev", "development", "crt_a", "crt_c")
	for _, p := range []store.Pending{redeploy, first} {
		if err := s.BeginDeploy(p); err != nil {
			t.Fatal(err)
		}
	}
	// Another project and account use the same certificate id: not counted.
	other := pending("p4", "prod", "production", "crt_a")
	other.Project = "shop2"
	if err := s.BeginDeploy(other); err != nil {
		t.Fatal(err)
	}
	otherAccount := pending("p5", "prod", "production", "crt_a")
	otherAccount.Account = "globex"
	deploy(t, s, otherAccount, t0, "dep_g")

	got := references(t, s, "acme", "shop", "crt_a")
	want := []store.Use{
		{DeploymentID: committed.DeploymentID, Environment: "prod", EnvironmentType: "production"},
		{DeploymentID: "", Environment: "dev", EnvironmentType: "development", InProgress: true},
		{DeploymentID: committed.DeploymentID, Environment: "prod", EnvironmentType: "production", InProgress: true},
	}
	if !sameUses(got, want) {
		t.Fatalf("references of crt_a = %+v, want %+v", got, want)
	}
	if got := references(t, s, "acme", "shop", "crt_b"); !sameUses(got, want[:1]) {
		t.Errorf("references of crt_b = %+v, want only the committed prod", got)
	}
	if got := references(t, s, "acme", "shop", "crt_c"); !sameUses(got, want[1:2]) {
		t.Errorf("references of crt_c = %+v, want only dev in progress", got)
	}
	if got := references(t, s, "acme", "shop", "crt_z"); len(got) != 0 {
		t.Errorf("references of an unused certificate = %+v", got)
	}

	// Aborting the dev deploy releases crt_c; committing the prod redeploy
	// moves crt_a from in progress to committed and releases crt_b.
	if err := s.AbortDeploy(first); err != nil {
		t.Fatal(err)
	}
	if got := references(t, s, "acme", "shop", "crt_c"); len(got) != 0 {
		t.Errorf("an aborted deploy still references crt_c: %+v", got)
	}
	if _, err := s.CommitDeploy(redeploy, deployment(redeploy, t0), "dep_x"); err != nil {
		t.Fatal(err)
	}
	if got := references(t, s, "acme", "shop", "crt_a"); !sameUses(got, want[:1]) {
		t.Errorf("after the commit, references of crt_a = %+v, want only the committed prod", got)
	}
	if got := references(t, s, "acme", "shop", "crt_b"); len(got) != 0 {
		t.Errorf("the redeploy dropped crt_b, yet it is referenced: %+v", got)
	}
}

func sameUses(a, b []store.Use) bool {
	key := func(u store.Use) string {
		return u.DeploymentID + "|" + u.Environment + "|" + u.EnvironmentType + "|" + map[bool]string{true: "p"}[u.InProgress]
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i] = key(a[i])
	}
	for i := range b {
		kb[i] = key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

func TestDropAllPending(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	deploy(t, s, pending("p0", "prod", "production", "crt_a"), t0, "dep_1")
	ps := []store.Pending{
		pending("p1", "prod", "production", "crt_a"),
		pending("p2", "dev", "development", "crt_a"),
		pending("p3", "dev", "development", "crt_b"),
	}
	for _, p := range ps {
		if err := s.BeginDeploy(p); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DropAllPending()
	if err != nil || n != 3 {
		t.Fatalf("DropAllPending = %d, %v; want 3", n, err)
	}
	for _, cert := range []string{"crt_a", "crt_b"} {
		for _, u := range references(t, s, "acme", "shop", cert) {
			if u.InProgress {
				t.Errorf("%s still has an in-progress use after DropAllPending: %+v", cert, u)
			}
		}
	}
	if got := references(t, s, "acme", "shop", "crt_a"); len(got) != 1 {
		t.Errorf("DropAllPending touched committed deployments: %+v", got)
	}
	if _, err := s.CommitDeploy(ps[1], deployment(ps[1], t0), "dep_2"); !errors.Is(err, store.ErrPendingGone) {
		t.Errorf("commit of a dropped deploy = %v, want ErrPendingGone", err)
	}
	if n, err := s.DropAllPending(); err != nil || n != 0 {
		t.Errorf("second DropAllPending = %d, %v; want 0", n, err)
	}
	// The bucket is usable again after being recreated.
	deploy(t, s, pending("p4", "dev", "development"), t0, "dep_2")
	if rev := revision(t, s); rev != 2 {
		t.Errorf("revision = %d, want 2", rev)
	}
}

func TestDeleteDeployment(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	deploy(t, s, pending("p1", "prod", "production", "crt_a"), t0, "dep_1")
	deploy(t, s, pending("p2", "dev", "development", "crt_a"), t0, "dep_2")

	ch, err := s.DeleteDeployment("acme", "shop", "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Revision != 3 || ch.Type != store.ChangeDeleted || ch.DeploymentID != "dep_1" || ch.After != nil ||
		ch.Before == nil || ch.Before.Environment != "prod" {
		t.Fatalf("delete change = %+v", ch)
	}
	if _, err := s.GetDeployment("acme", "shop", "dep_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeployment after delete = %v, want ErrNotFound", err)
	}
	if got := references(t, s, "acme", "shop", "crt_a"); len(got) != 1 || got[0].DeploymentID != "dep_2" {
		t.Errorf("references after delete = %+v, want dev only", got)
	}
	for _, tc := range []struct{ account, project, id string }{
		{"acme", "shop", "dep_1"},   // already deleted
		{"acme", "other", "dep_2"},  // another project's id space
		{"globex", "shop", "dep_2"}, // another account's
		{"acme", "shop", "dep_none"},
	} {
		if _, err := s.DeleteDeployment(tc.account, tc.project, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDeployment(%v) = %v, want ErrNotFound", tc, err)
		}
	}
	if rev := revision(t, s); rev != 3 {
		t.Errorf("refused deletes moved the revision to %d", rev)
	}
	// A new deploy of the environment is a new deployment.
	again := deploy(t, s, pending("p3", "prod", "production"), t0.Add(time.Hour), "dep_3")
	if again.After.ID != "dep_3" || again.After.Generation != 1 || again.Before != nil || !again.After.CreatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("deploy after delete = %+v, want a fresh dep_3 at generation 1", again.After)
	}
}

func TestListDeploymentsOrderAndIsolation(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	for _, env := range []string{"staging", "prod", "dev", "prod-eu"} {
		deploy(t, s, pending("p"+env, env, "production"), t0, "dep_"+env)
	}
	// Neighbours whose keys share a prefix with acme/shop.
	for _, scope := range [][2]string{{"acme", "shop2"}, {"acme", "sho"}, {"acme2", "shop"}, {"globex", "shop"}} {
		p := pending("q", "dev", "development")
		p.Account, p.Project = scope[0], scope[1]
		deploy(t, s, p, t0, "dep_"+scope[0]+"_"+scope[1])
	}

	list, err := s.ListDeployments("acme", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, d := range list {
		envs = append(envs, d.Environment)
		if d.Account != "acme" || d.Project != "shop" {
			t.Errorf("acme/shop lists %s/%s/%s", d.Account, d.Project, d.Environment)
		}
	}
	if want := []string{"dev", "prod", "prod-eu", "staging"}; !slices.Equal(envs, want) {
		t.Errorf("environments = %v, want %v", envs, want)
	}
	for _, scope := range [][2]string{{"acme", "shop2"}, {"acme", "sho"}, {"acme2", "shop"}, {"globex", "shop"}} {
		list, err := s.ListDeployments(scope[0], scope[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != "dep_"+scope[0]+"_"+scope[1] {
			t.Errorf("%s/%s lists %d deployments, want its own one", scope[0], scope[1], len(list))
		}
	}
	if list, err := s.ListDeployments("nobody", "shop"); err != nil || len(list) != 0 {
		t.Errorf("an empty project lists %v, %v", list, err)
	}

	// The snapshot has everything, in revision order.
	all, rev, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if rev != 8 || len(all) != 8 {
		t.Fatalf("snapshot has %d deployments at revision %d, want 8 at 8", len(all), rev)
	}
	for i, d := range all {
		if d.Revision != uint64(i+1) {
			t.Errorf("snapshot item %d has revision %d, want %d", i, d.Revision, i+1)
		}
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	s, path := openStore(t, store.Options{})
	deploy(t, s, pending("p1", "prod", "production", "crt_a"), t0, "dep_1")
	deploy(t, s, pending("p2", "prod", "production", "crt_b"), t0.Add(time.Minute), "dep_x")
	inProgress := pending("p3", "dev", "development", "crt_c")
	if err := s.BeginDeploy(inProgress); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s, path)
	if rev := revision(t, s); rev != 2 {
		t.Fatalf("revision after reopen = %d, want 2", rev)
	}
	d, err := s.GetDeployment("acme", "shop", "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 || d.References[0].CertificateID != "crt_b" || !d.CreatedAt.Equal(t0) || !d.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("deployment after reopen = %+v", d)
	}
	// The deploy in progress survives until someone drops it.
	if got := references(t, s, "acme", "shop", "crt_c"); len(got) != 1 || !got[0].InProgress {
		t.Errorf("in-progress references after reopen = %+v", got)
	}
	if changes, _, _, err := s.ChangesSince(0, 10); err != nil || len(changes) != 2 {
		t.Errorf("changelog after reopen: %d changes, %v", len(changes), err)
	}
	// Writing continues from the stored head.
	ch, err := s.CommitDeploy(inProgress, deployment(inProgress, t0), "dep_2")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Revision != 3 {
		t.Errorf("first commit after reopen at revision %d, want 3", ch.Revision)
	}
}

func TestRetentionTrimsTheChangelog(t *testing.T) {
	s, _ := openStore(t, store.Options{Retention: 3})
	for i := range 6 {
		deploy(t, s, pending("p", "prod", "production"), t0, "dep_"+string(rune('a'+i)))
	}
	changes, compacted, head, err := s.ChangesSince(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if compacted != 3 || head != 6 || len(changes) != 3 || changes[0].Revision != 4 {
		t.Errorf("after 6 writes with retention 3: compacted %d head %d, %d changes; want 3, 6, 3", compacted, head, len(changes))
	}
}

func TestPublisherOncePerCommit(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	var rec recorder
	s.SetPublisher(rec.publish)

	p := pending("p1", "prod", "production", "crt_a")
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortDeploy(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DropAllPending(); err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("writes that change no deployment were published: %+v", got)
	}
	if _, err := s.CommitDeploy(p, deployment(p, t0), "dep_1"); !errors.Is(err, store.ErrPendingGone) {
		t.Fatalf("commit = %v, want ErrPendingGone", err)
	}
	if _, err := s.DeleteDeployment("acme", "shop", "dep_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete = %v, want ErrNotFound", err)
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("refused writes were published: %+v", got)
	}

	c1 := deploy(t, s, p, t0, "dep_1")
	c2 := deploy(t, s, pending("p2", "prod", "production"), t0, "dep_2")
	c3, err := s.DeleteDeployment("acme", "shop", "dep_1")
	if err != nil {
		t.Fatal(err)
	}
	got := rec.got()
	if len(got) != 3 {
		t.Fatalf("%d changes published for 3 commits", len(got))
	}
	for i, want := range []store.Change{c1, c2, c3} {
		if got[i].Revision != want.Revision || got[i].Type != want.Type || got[i].DeploymentID != want.DeploymentID {
			t.Errorf("published %d = rev %d %s %s, want rev %d %s %s", i, got[i].Revision, got[i].Type, got[i].DeploymentID, want.Revision, want.Type, want.DeploymentID)
		}
	}
	// The published entry is the subscribers': what the caller does with
	// the records it got back does not reach it.
	c1.After.EnvironmentType = "changed by the caller"
	if got[0].After.EnvironmentTypes[0] != "production" {
		t.Errorf("the published entry shares memory with the returned change")
	}
}

// TestOldFormatEntriesAreRead: changelog entries written before Entry,
// with whole deployments in them, are read as the Entry they stand for.
func TestOldFormatEntriesAreRead(t *testing.T) {
	s, _ := openStore(t, store.Options{})
	first := deploy(t, s, pending("p1", "prod", "production"), t0, "dep_1")
	before := *first.After
	after := before
	after.EnvironmentType, after.Generation = "staging", 2
	rev, err := store.AppendOldFormatChange(s, store.Change{Type: store.ChangeDeployed, DeploymentID: "dep_1", Account: "acme", Project: "shop", Before: &before, After: &after, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	changes, _, head, err := s.ChangesSince(first.Revision, 10)
	if err != nil || head != rev || len(changes) != 1 {
		t.Fatalf("ChangesSince = %+v, head %d, %v; want the old entry at %d", changes, head, err, rev)
	}
	c := changes[0]
	want := store.Entry{Revision: rev, Type: store.ChangeDeployed, DeploymentID: "dep_1", Account: "acme", Project: "shop", Generation: 2,
		Before: &changefeed.Place{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}},
		After:  &changefeed.Place{Account: "acme", Project: "shop", EnvironmentTypes: []string{"staging"}}}
	if c.Revision != want.Revision || c.Type != want.Type || c.DeploymentID != want.DeploymentID || c.Generation != want.Generation ||
		!reflect.DeepEqual(c.Before, want.Before) || !reflect.DeepEqual(c.After, want.After) {
		t.Errorf("old entry read as %+v (before %+v, after %+v), want %+v", c, c.Before, c.After, want)
	}
	if n, bad, err := s.ScanChanges(); err != nil || n != 2 || len(bad) != 0 {
		t.Errorf("ScanChanges = %d, %v, %v; want 2 entries, all decoding", n, bad, err)
	}
}
