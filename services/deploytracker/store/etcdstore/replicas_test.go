package etcdstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
	"github.com/certbind/certbind/services/deploytracker/store/storetest"
)

// replicas opens n stores on one prefix, each on a client (a connection to
// etcd) of its own, as n replicas of the deploytracker would.
func replicas(t *testing.T, n int) []*Store {
	prefix := testetcd.Prefix(t)
	out := make([]*Store, n)
	for i := range out {
		out[i] = open(t, testetcd.NewClient(t), prefix)
	}
	return out
}

// TestReplicasRaceFirstDeploys: first deploys of one environment through
// two replicas at once make one deployment, whose generation counts every
// commit, and agree on the epoch.
func TestReplicasRaceFirstDeploys(t *testing.T) {
	rs := replicas(t, 2)
	if rs[0].Epoch() != rs[1].Epoch() {
		t.Fatalf("replicas of one store disagree on its epoch: %q and %q", rs[0].Epoch(), rs[1].Epoch())
	}
	const perReplica = 6
	var wg sync.WaitGroup
	ids := make(chan string, 2*perReplica)
	for i := range 2 * perReplica {
		wg.Go(func() {
			s := rs[i%2]
			p := storetest.Pending("acme", "prod", "production", "crt-1")
			if err := s.BeginDeploy(p); err != nil {
				t.Errorf("BeginDeploy: %v", err)
				return
			}
			ch, err := s.CommitDeploy(p, storetest.Deployment(p, time.Now()), fmt.Sprintf("dep-r%02d", i))
			if err != nil {
				t.Errorf("CommitDeploy: %v", err)
				return
			}
			ids <- ch.DeploymentID
		})
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Errorf("commits through two replicas gave the environment two ids, %s and %s", first, id)
		}
	}
	for _, s := range rs {
		list, err := s.ListDeployments("acme", "shop")
		if err != nil || len(list) != 1 || list[0].ID != first || list[0].Generation != 2*perReplica {
			t.Fatalf("a replica lists %+v, %v; want one deployment %s at generation %d", list, err, first, 2*perReplica)
		}
	}
}

// TestReplicaKeepsOthersDeploysInProgress: a replica that drops its deploys
// in progress (as one does at start-up) leaves another replica's alone;
// those of a replica that stops vanish with its lease, and can no longer
// commit.
func TestReplicaKeepsOthersDeploysInProgress(t *testing.T) {
	rs := replicas(t, 2)
	a, b := rs[0], rs[1]
	pa := storetest.Pending("acme", "prod", "production", "crt-1")
	if err := a.BeginDeploy(pa); err != nil {
		t.Fatal(err)
	}
	if n, err := b.DropAllPending(); err != nil || n != 0 {
		t.Errorf("the other replica's DropAllPending = %d, %v; want 0", n, err)
	}
	if u, err := b.References("acme", "shop", "crt-1"); err != nil || len(u) != 1 || !u[0].InProgress {
		t.Fatalf("references seen by the other replica = %+v, %v; want the deploy in progress", u, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if u, err := b.References("acme", "shop", "crt-1"); err != nil || len(u) != 0 {
		t.Errorf("references after the replica stopped = %+v, %v; want none", u, err)
	}
	if _, err := b.CommitDeploy(pa, storetest.Deployment(pa, time.Now()), "dep-x"); !errors.Is(err, store.ErrPendingGone) {
		t.Errorf("commit of a stopped replica's deploy = %v, want ErrPendingGone", err)
	}
}

// TestDeployInProgressOutlivesNoLease: a replica whose lease expired (etcd
// unreachable past its TTL) loses the deploys bound to it, which then
// cannot commit, and binds the next deploy to a new lease.
func TestDeployInProgressOutlivesNoLease(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	s := open(t, cli, prefix)
	p := storetest.Pending("acme", "prod", "production", "crt-1")
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	// Revoking the lease from outside is what its expiry does.
	lost := s.intents.Current()
	if _, err := testetcd.NewClient(t).Revoke(t.Context(), lost); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitDeploy(p, storetest.Deployment(p, time.Now()), "dep-x"); !errors.Is(err, store.ErrPendingGone) {
		t.Errorf("commit after the lease was lost = %v, want ErrPendingGone", err)
	}
	p2 := storetest.Pending("acme", "prod", "production", "crt-1")
	if err := s.BeginDeploy(p2); err != nil {
		t.Fatal(err)
	}
	if id := s.intents.Current(); id == lost || id == 0 {
		t.Errorf("the next deploy is bound to lease %x, want a new one (the lost one was %x)", id, lost)
	}
	if _, err := s.CommitDeploy(p2, storetest.Deployment(p2, time.Now()), "dep-y"); err != nil {
		t.Errorf("commit on the new lease: %v", err)
	}
}

// TestKeyPartsAreRefused: a part that would change how a key splits is
// refused before anything is written.
func TestKeyPartsAreRefused(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	s := open(t, cli, prefix)
	for _, env := range []string{"prod/x", ""} {
		p := storetest.Pending("acme", env, "production")
		if err := s.BeginDeploy(p); err == nil {
			t.Errorf("BeginDeploy of environment %q was accepted", env)
		}
	}
	p := storetest.Pending("acme", "prod", "production")
	if err := s.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitDeploy(p, storetest.Deployment(p, time.Now()), "dep/1"); err == nil {
		t.Error("a commit with an id holding / was accepted")
	}
	if list, err := s.ListDeployments("acme", "shop"); err != nil || len(list) != 0 {
		t.Errorf("refused writes left %d deployments, %v", len(list), err)
	}
}

// TestStartingReplicaKeepsLiveDeploys: a deploytracker replica that starts
// (deploy.Tracker.Recover, which New runs before serving) while another
// replica is in the middle of a deploy leaves that deploy alone: it still
// counts as a reference, and it still commits.
func TestStartingReplicaKeepsLiveDeploys(t *testing.T) {
	rs := replicas(t, 2)
	a, b := rs[0], rs[1]
	p := storetest.Pending("acme", "prod", "production", "crt-1")
	if err := a.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	if n, err := deploy.New(deploy.Config{Store: b}).Recover(); err != nil || n != 0 {
		t.Errorf("the starting replica's Recover = %d, %v; want 0 (it had no deploy of its own)", n, err)
	}
	if u, err := b.References("acme", "shop", "crt-1"); err != nil || len(u) != 1 || !u[0].InProgress {
		t.Fatalf("references after the other replica started = %+v, %v; want the deploy in progress", u, err)
	}
	if _, err := a.CommitDeploy(p, storetest.Deployment(p, time.Now()), "dep-live"); err != nil {
		t.Errorf("the running replica's commit after another replica started: %v", err)
	}
}
