package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// Run runs the suite. open returns a new, empty store for one subtest and
// arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"DeployKeepsIDAndRaisesGeneration", testDeploy},
		{"PendingCountsUntilCommitOrAbort", testPending},
		{"CommitWithoutPendingIsRefused", testPendingGone},
		{"ConcurrentFirstDeploysOfOneEnvironment", testConcurrentFirstDeploys},
		{"RevisionsIncrease", testRevisions},
		{"ChangesSince", feed(testChangesSince)},
		{"SnapshotAndPublisher", feed(testSnapshotPublisher)},
		{"DeleteDeployment", testDelete},
		{"Epoch", testEpoch},
		{"DamagedRecord", testDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
	t.Run("EpochsDiffer", func(t *testing.T) {
		a, b := open(t), open(t)
		if a.Epoch() == b.Epoch() {
			t.Errorf("two new stores share the epoch %q", a.Epoch())
		}
	})
}

// feed runs a test of the change feed on a store that has one, and skips
// it on one that does not.
func feed(fn func(t *testing.T, s Store, f Feed)) func(t *testing.T, s Store) {
	return func(t *testing.T, s Store) {
		f, ok := s.(Feed)
		if !ok {
			t.Skip("the backend has no change feed yet (no Feed)")
		}
		fn(t, s, f)
	}
}

var (
	t0  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	seq atomic.Uint64
)

// Pending returns a deploy in progress of env in account/shop whose routes
// use the certificates certs.
func Pending(account, env, envType string, certs ...string) store.Pending {
	p := store.Pending{Token: fmt.Sprintf("p-st%06d", seq.Add(1)), Account: account, Project: "shop", Environment: env, EnvironmentType: envType, StartedAt: t0}
	for _, c := range certs {
		p.References = append(p.References, store.Reference{CertificateID: c, CertificateName: "n" + c, Kind: "client", RoutePath: "/api/*", Option: "mtlsCertificate"})
	}
	return p
}

// Deployment returns the record that commits p, stamped at.
func Deployment(p store.Pending, at time.Time) *store.Deployment {
	d := &store.Deployment{Account: p.Account, Project: p.Project, Environment: p.Environment, EnvironmentType: p.EnvironmentType,
		Config: []byte(`{"routes":[]}`), References: p.References, CreatedAt: at, UpdatedAt: at}
	for _, r := range p.References {
		d.Routes = append(d.Routes, store.Route{Path: r.RoutePath, Handler: "UrlForwardHandler", BaseURL: "https://b", MTLSCertificateID: r.CertificateID, MTLSCertificateName: r.CertificateName})
	}
	return d
}

func newID() string { return fmt.Sprintf("dep-st%06d", seq.Add(1)) }

func deploy(t *testing.T, s Store, p store.Pending, at time.Time) store.Change {
	t.Helper()
	if err := s.BeginDeploy(p); err != nil {
		t.Fatalf("BeginDeploy: %v", err)
	}
	ch, err := s.CommitDeploy(p, Deployment(p, at), newID())
	if err != nil {
		t.Fatalf("CommitDeploy: %v", err)
	}
	return ch
}

// revision returns the store's head revision, or 0 when it has no feed.
func revision(t *testing.T, s Store) uint64 {
	t.Helper()
	f, ok := s.(Feed)
	if !ok {
		return 0
	}
	rev, err := f.Revision()
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func changesAfter(t *testing.T, f Feed, rev uint64) []store.Entry {
	t.Helper()
	changes, _, _, err := f.ChangesSince(rev, 1<<30)
	if err != nil {
		t.Fatalf("ChangesSince(%d): %v", rev, err)
	}
	return changes
}

// unchanged fails the test when the store's feed moved after rev; a store
// without a feed is held to the other checks of each test.
func unchanged(t *testing.T, s Store, rev uint64, what string) {
	t.Helper()
	f, ok := s.(Feed)
	if !ok {
		return
	}
	if got := revision(t, s); got != rev {
		t.Errorf("%s moved the revision from %d to %d", what, rev, got)
	}
	if ch := changesAfter(t, f, rev); len(ch) != 0 {
		t.Errorf("%s logged %d changes", what, len(ch))
	}
}

func uses(t *testing.T, s Store, account, cert string) []store.Use {
	t.Helper()
	u, err := s.References(account, "shop", cert)
	if err != nil {
		t.Fatalf("References(%s): %v", cert, err)
	}
	slices.SortFunc(u, func(a, b store.Use) int {
		if a.InProgress != b.InProgress {
			if a.InProgress {
				return 1
			}
			return -1
		}
		return 0
	})
	return u
}

func testDeploy(t *testing.T, s Store) {
	first := deploy(t, s, Pending("acme", "prod", "production", "crt-1"), t0)
	if first.Type != store.ChangeDeployed || first.Before != nil || first.After == nil || first.After.Generation != 1 || first.After.ID == "" || first.DeploymentID != first.After.ID {
		t.Fatalf("first deploy = %+v", first)
	}
	second := deploy(t, s, Pending("acme", "prod", "production", "crt-2"), t0.Add(time.Hour))
	a := second.After
	if a.ID != first.After.ID || a.Generation != 2 || !a.CreatedAt.Equal(t0) || !a.UpdatedAt.Equal(t0.Add(time.Hour)) ||
		second.Before == nil || second.Before.Generation != 1 {
		t.Errorf("redeploy = %+v (before %+v), want id %s kept, generation 2, creation time kept", a, second.Before, first.After.ID)
	}
	got, err := s.GetDeployment("acme", "shop", a.ID)
	if err != nil || got.Generation != 2 || got.Revision != second.Revision || len(got.References) != 1 || got.References[0].CertificateID != "crt-2" {
		t.Errorf("stored deployment = %+v, %v", got, err)
	}
	other := deploy(t, s, Pending("acme", "dev", "development"), t0)
	if other.After.ID == a.ID || other.After.Generation != 1 {
		t.Errorf("another environment's deploy = %+v", other.After)
	}
	list, err := s.ListDeployments("acme", "shop")
	if err != nil || len(list) != 2 || list[0].Environment != "dev" || list[1].Environment != "prod" {
		t.Errorf("ListDeployments = %v, %v; want dev then prod", list, err)
	}
	if _, err := s.GetDeployment("globex", "shop", a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get from another account = %v, want ErrNotFound", err)
	}
	if list, err := s.ListDeployments("globex", "shop"); err != nil || len(list) != 0 {
		t.Errorf("another account lists %d deployments, %v", len(list), err)
	}
}

func testPending(t *testing.T, s Store) {
	rev := revision(t, s)
	p := Pending("acme", "prod", "production", "crt-1")
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	// A deploy in progress is no change for subscribers.
	unchanged(t, s, rev, "BeginDeploy")
	u := uses(t, s, "acme", "crt-1")
	if len(u) != 1 || !u[0].InProgress || u[0].DeploymentID != "" || u[0].Environment != "prod" || u[0].EnvironmentType != "production" {
		t.Fatalf("references of a first deploy in progress = %+v", u)
	}
	if u := uses(t, s, "globex", "crt-1"); len(u) != 0 {
		t.Errorf("another account sees %+v", u)
	}
	if err := s.AbortDeploy(p); err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, rev, "AbortDeploy")
	if u := uses(t, s, "acme", "crt-1"); len(u) != 0 {
		t.Errorf("references after abort = %+v", u)
	}

	c := deploy(t, s, Pending("acme", "prod", "production", "crt-1"), t0)
	u = uses(t, s, "acme", "crt-1")
	if len(u) != 1 || u[0].InProgress || u[0].DeploymentID != c.DeploymentID || u[0].EnvironmentType != "production" {
		t.Fatalf("references of a committed deploy = %+v", u)
	}
	// A redeploy in progress that drops crt-1 and adds crt-2: crt-1 is
	// still used by the committed deployment, crt-2 by the deploy.
	p2 := Pending("acme", "prod", "production", "crt-2")
	if err := s.BeginDeploy(p2); err != nil {
		t.Fatal(err)
	}
	if u := uses(t, s, "acme", "crt-2"); len(u) != 1 || !u[0].InProgress || u[0].DeploymentID != c.DeploymentID {
		t.Errorf("references of a redeploy in progress = %+v, want it in progress under %s", u, c.DeploymentID)
	}
	if u := uses(t, s, "acme", "crt-1"); len(u) != 1 || u[0].InProgress {
		t.Errorf("crt-1 during the redeploy = %+v", u)
	}
	n, err := s.DropAllPending()
	if err != nil || n != 1 {
		t.Errorf("DropAllPending = %d, %v; want 1", n, err)
	}
	if u := uses(t, s, "acme", "crt-2"); len(u) != 0 {
		t.Errorf("references after DropAllPending = %+v", u)
	}
}

func testPendingGone(t *testing.T, s Store) {
	rev := revision(t, s)
	p := Pending("acme", "prod", "production", "crt-1")
	if _, err := s.CommitDeploy(p, Deployment(p, t0), newID()); !errors.Is(err, store.ErrPendingGone) {
		t.Errorf("commit never begun = %v, want ErrPendingGone", err)
	}
	for _, drop := range []func() error{
		func() error { return s.AbortDeploy(p) },
		func() error { _, err := s.DropAllPending(); return err },
	} {
		if err := s.BeginDeploy(p); err != nil {
			t.Fatal(err)
		}
		if err := drop(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitDeploy(p, Deployment(p, t0), newID()); !errors.Is(err, store.ErrPendingGone) {
			t.Errorf("commit of a dropped deploy = %v, want ErrPendingGone", err)
		}
	}
	unchanged(t, s, rev, "refused commits")
	if list, _ := s.ListDeployments("acme", "shop"); len(list) != 0 {
		t.Errorf("refused commits left %d deployments", len(list))
	}
	// A commit removes its deploy in progress: it cannot commit twice.
	deploy(t, s, p, t0)
	rev = revision(t, s)
	if _, err := s.CommitDeploy(p, Deployment(p, t0), newID()); !errors.Is(err, store.ErrPendingGone) {
		t.Errorf("second commit = %v, want ErrPendingGone", err)
	}
	unchanged(t, s, rev, "a second commit")
}

func testConcurrentFirstDeploys(t *testing.T, s Store) {
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			p := Pending("acme", "prod", "production")
			if err := s.BeginDeploy(p); err != nil {
				t.Errorf("BeginDeploy: %v", err)
				return
			}
			if _, err := s.CommitDeploy(p, Deployment(p, t0), newID()); err != nil {
				t.Errorf("CommitDeploy: %v", err)
			}
		})
	}
	wg.Wait()
	list, err := s.ListDeployments("acme", "shop")
	if err != nil || len(list) != 1 || list[0].Generation != n {
		t.Fatalf("after %d concurrent deploys of one environment: %+v, %v; want one deployment at generation %d", n, list, err, n)
	}
	if got, err := s.GetDeployment("acme", "shop", list[0].ID); err != nil || got.Environment != "prod" {
		t.Errorf("its id %s finds %+v, %v", list[0].ID, got, err)
	}
}

func testRevisions(t *testing.T, s Store) {
	last := revision(t, s)
	const n = 12
	var wg sync.WaitGroup
	revs := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			p := Pending("acme", fmt.Sprintf("env-%d", i), "development")
			if err := s.BeginDeploy(p); err != nil {
				t.Error(err)
				return
			}
			ch, err := s.CommitDeploy(p, Deployment(p, t0), newID())
			if err != nil {
				t.Error(err)
			}
			if ch.After != nil && ch.After.Revision != ch.Revision {
				t.Errorf("record revision %d, change revision %d", ch.After.Revision, ch.Revision)
			}
			revs[i] = ch.Revision
		})
	}
	wg.Wait()
	slices.Sort(revs)
	if distinct := slices.Compact(slices.Clone(revs)); len(distinct) != n || revs[0] <= last {
		t.Errorf("concurrent deploys took revisions %v after %d, want %d distinct ones after it", revs, last, n)
	}
	list, err := s.ListDeployments("acme", "shop")
	if err != nil || len(list) != n {
		t.Fatalf("ListDeployments = %d, %v; want %d", len(list), err, n)
	}
	for _, d := range list {
		if !slices.Contains(revs, d.Revision) {
			t.Errorf("deployment of %s stored at revision %d, which no write returned (%v)", d.Environment, d.Revision, revs)
		}
	}
	f, ok := s.(Feed)
	if !ok {
		return
	}
	if got := revision(t, s); got != revs[n-1] {
		t.Errorf("Revision() = %d, want the last write's %d", got, revs[n-1])
	}
	var logged []uint64
	for _, c := range changesAfter(t, f, last) {
		logged = append(logged, c.Revision)
	}
	if !slices.Equal(logged, revs) {
		t.Errorf("changelog after %d = %v, want %v", last, logged, revs)
	}
}

func testChangesSince(t *testing.T, s Store, f Feed) {
	start := revision(t, s)
	// The head is the last change's revision, or a later one up to which
	// the store knows there is no other change (a feed on etcd reports
	// its progress through other keys' revisions).
	changes, compacted, head, err := f.ChangesSince(start, 10)
	if err != nil || len(changes) != 0 || head < start || compacted > head {
		t.Fatalf("ChangesSince(head) of a new store = %d changes, compacted %d, head %d, %v; want none, compacted at most head", len(changes), compacted, head, err)
	}
	var written []store.Change
	for i := range 5 {
		written = append(written, deploy(t, s, Pending("acme", fmt.Sprintf("e%d", i%3), "development"), t0.Add(time.Duration(i)*time.Minute)))
	}
	del, err := s.DeleteDeployment("acme", "shop", written[0].DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	written = append(written, del)
	last := del.Revision
	for i := -1; i < len(written); i++ {
		since := start
		if i >= 0 {
			since = written[i].Revision
		}
		for _, limit := range []int{1, 2, 100} {
			changes, compacted, head, err := f.ChangesSince(since, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := written[i+1:]
			want = want[:min(limit, len(want))]
			if len(changes) != len(want) {
				t.Fatalf("ChangesSince(%d, %d) = %d changes, want %d", since, limit, len(changes), len(want))
			}
			for j, c := range changes {
				// The entry says where the deployment was before and after
				// and its generation, and nothing more: no config.
				w := want[j].Entry()
				if c.Revision != w.Revision || c.Type != w.Type || c.DeploymentID != w.DeploymentID || c.Account != w.Account ||
					!c.At.Equal(w.At) || !reflect.DeepEqual(c.Before, w.Before) || !reflect.DeepEqual(c.After, w.After) || c.Generation != w.Generation {
					t.Errorf("ChangesSince(%d, %d)[%d] = %+v, want %+v", since, limit, j, c, w)
				}
			}
			// Every change written is kept: the compaction point is
			// before the first.
			if head < last || compacted >= written[0].Revision {
				t.Errorf("ChangesSince(%d, %d): compacted %d, head %d; want compacted before %d, head %d", since, limit, compacted, head, written[0].Revision, last)
			}
		}
	}
	if changes, _, _, err := f.ChangesSince(last+1000, 10); err != nil || len(changes) != 0 {
		t.Errorf("ChangesSince(beyond head) = %d changes, %v", len(changes), err)
	}
}

func testSnapshotPublisher(t *testing.T, s Store, f Feed) {
	var mu sync.Mutex
	var published []store.Entry
	f.SetPublisher(func(c store.Entry) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, c)
	})
	a := deploy(t, s, Pending("acme", "a", "development"), t0)
	b := deploy(t, s, Pending("acme", "b", "development"), t0)
	a2 := deploy(t, s, Pending("acme", "a", "development"), t0)
	if err := s.BeginDeploy(Pending("acme", "c", "development")); err != nil {
		t.Fatal(err)
	}
	// The snapshot's revision is the last change's, or a later one with
	// no change between (on etcd, the revision of its read: the deploy
	// in progress wrote one).
	snap, rev, err := f.Snapshot()
	if err != nil || rev < a2.Revision || len(changesAfter(t, f, a2.Revision)) != 0 || len(snap) != 2 || snap[0].ID != b.DeploymentID || snap[1].ID != a.DeploymentID || snap[1].Generation != 2 {
		t.Errorf("Snapshot = %+v at %d, %v; want b then a (by revision) at %d", snap, rev, err, a2.Revision)
	}
	mu.Lock()
	defer mu.Unlock()
	var revs []uint64
	for _, c := range published {
		revs = append(revs, c.Revision)
	}
	if want := []uint64{a.Revision, b.Revision, a2.Revision}; !slices.Equal(revs, want) {
		t.Errorf("published revisions %v, want %v", revs, want)
	}
}

func testDelete(t *testing.T, s Store) {
	c := deploy(t, s, Pending("acme", "prod", "production", "crt-1"), t0)
	rev := revision(t, s)
	if _, err := s.DeleteDeployment("acme", "shop", "dep-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a missing deployment = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteDeployment("globex", "shop", c.DeploymentID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete from another account = %v, want ErrNotFound", err)
	}
	unchanged(t, s, rev, "refused deletes")
	del, err := s.DeleteDeployment("acme", "shop", c.DeploymentID)
	if err != nil || del.Type != store.ChangeDeleted || del.After != nil || del.Before == nil || del.Before.ID != c.DeploymentID || del.Revision <= rev {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := s.GetDeployment("acme", "shop", c.DeploymentID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after delete = %v", err)
	}
	if u := uses(t, s, "acme", "crt-1"); len(u) != 0 {
		t.Errorf("references after delete = %+v", u)
	}
	// The environment starts again with a new id.
	again := deploy(t, s, Pending("acme", "prod", "production"), t0)
	if again.After.ID == c.DeploymentID || again.After.Generation != 1 {
		t.Errorf("deploy after delete = %+v, want a new id at generation 1", again.After)
	}
}

func testEpoch(t *testing.T, s Store) {
	e := s.Epoch()
	if e == "" {
		t.Fatal("a store has no epoch")
	}
	deploy(t, s, Pending("acme", "a", "development"), t0)
	if got := s.Epoch(); got != e {
		t.Errorf("a write changed the epoch from %q to %q", e, got)
	}
}

func testDamaged(t *testing.T, s Store) {
	d, ok := s.(Damager)
	if !ok {
		t.Skip("the store cannot damage a record (no Damager)")
	}
	c := deploy(t, s, Pending("acme", "prod", "production", "crt-1"), t0)
	deploy(t, s, Pending("acme", "dev", "development", "crt-1"), t0)
	if err := d.DamageDeployment("acme", "shop", "prod"); err != nil {
		t.Fatal(err)
	}
	rev := revision(t, s)
	damaged := func(what string, got *store.Deployment) {
		t.Helper()
		if got == nil || got.Damaged == "" || got.ID != c.DeploymentID || got.Environment != "prod" || got.Account != "acme" ||
			len(got.Routes) != 0 || len(got.References) != 0 {
			t.Errorf("%s = %+v, want a stand-in that names it and has no routes", what, got)
		}
	}
	got, err := s.GetDeployment("acme", "shop", c.DeploymentID)
	if err != nil {
		t.Fatalf("Get of a damaged record: %v", err)
	}
	damaged("Get", got)
	list, err := s.ListDeployments("acme", "shop")
	if err != nil || len(list) != 2 || list[0].Damaged != "" {
		t.Fatalf("List with a damaged record = %+v, %v", list, err)
	}
	damaged("List", list[1])
	if f, ok := s.(Feed); ok {
		snap, _, err := f.Snapshot()
		if err != nil || len(snap) != 2 {
			t.Fatalf("Snapshot with a damaged record = %d, %v", len(snap), err)
		}
		for _, x := range snap {
			if x.Environment == "prod" {
				damaged("Snapshot", x)
			}
		}
	}
	// Whether it uses a certificate is unknown, so the answer is not "no".
	if u, err := s.References("acme", "shop", "crt-1"); !errors.Is(err, store.ErrUndecodable) {
		t.Errorf("References over a damaged record = %+v, %v; want ErrUndecodable", u, err)
	}
	unchanged(t, s, rev, "reads of a damaged record")
	// A redeploy repairs it, keeping its id.
	re := deploy(t, s, Pending("acme", "prod", "production"), t0.Add(time.Hour))
	if re.After.ID != c.DeploymentID || re.After.Generation != 1 || re.Before == nil || re.Before.Damaged == "" {
		t.Errorf("redeploy over a damaged record = %+v (before %+v), want id %s at generation 1", re.After, re.Before, c.DeploymentID)
	}
	if u := uses(t, s, "acme", "crt-1"); len(u) != 1 || u[0].Environment != "dev" {
		t.Errorf("references after the repair = %+v", u)
	}
	// A damaged record can be deleted.
	if err := d.DamageDeployment("acme", "shop", "prod"); err != nil {
		t.Fatal(err)
	}
	del, err := s.DeleteDeployment("acme", "shop", c.DeploymentID)
	if err != nil || del.Before == nil || del.Before.ID != c.DeploymentID {
		t.Fatalf("delete of a damaged record = %+v, %v", del, err)
	}
	if _, err := s.GetDeployment("acme", "shop", c.DeploymentID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after deleting a damaged record = %v", err)
	}
}
