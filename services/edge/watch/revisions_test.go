package watch_test

import (
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// until waits for cond on the store's snapshot, looking again at each
// publish.
// settled returns the follower's status once ok holds, or after 5 s the
// status as it is: the follower updates its status just after it applies
// an event to the store, so a test that saw the store change may see the
// status a moment later.
func settled(f *watch.Follower, ok func(watch.Status) bool) watch.Status {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := f.Status()
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func until(t *testing.T, st *state.Store, what string, cond func(*state.Snapshot) bool) {
	t.Helper()
	published := make(chan struct{}, 1)
	st.OnPublish(func(*state.Snapshot) {
		select {
		case published <- struct{}{}:
		default:
		}
	})
	timeout := time.After(10 * time.Second)
	for !cond(st.Load()) {
		select {
		case <-published:
		case <-timeout:
			t.Fatalf("the edge state never got to: %s", what)
		}
	}
}

func at(env string) state.Key { return state.Key{Account: "acme", Project: "shop", Environment: env} }

// Revisions increase but need not go up by one (etcd's are shared between
// keys): the follower applies changes at 10 and 11 after a snapshot at 3
// and a heartbeat at 25, and resumes from 25 with the epoch.
func TestCertificatesFollowSparseRevisions(t *testing.T) {
	certs, _, conn := controlPlane(t)
	ca := testpki.NewCA(t, "Root")
	st := state.NewStore()
	f := watch.NewCertificates(conn, st, watch.Scope{Account: "acme"}, quietLog())
	run(t, f)

	req := certs.next(t, cResync("e1"), cItem(material(t, ca, "a")), cComplete(3, "e1"),
		cPut(10, material(t, ca, "b")), cDelete(11, "a"), cHeartbeat(25, "e1"), nil)
	if req.GetFromRevision() != 0 || req.GetEpoch() != "" || req.GetAccount() != "acme" {
		t.Fatalf("first request: %v", req)
	}
	req = certs.next(t, cHeartbeat(25, "e1"), cPut(40, material(t, ca, "c")))
	if req.GetFromRevision() != 25 || req.GetEpoch() != "e1" || req.GetAccount() != "acme" {
		t.Fatalf("the follower resumed with %v, want revision 25 of epoch e1", req)
	}
	until(t, st, "b and c, without a", func(s *state.Snapshot) bool {
		return s.Certificate("a") == nil && s.Certificate("b") != nil && s.Certificate("c") != nil
	})
	if c := st.Load().Certificate("c"); c.TLS == nil {
		t.Fatalf("certificate c has no TLS material: %+v", c)
	}
	want := func(s watch.Status) bool { return s.Revision == 40 && s.Epoch == "e1" && s.Synced && s.Resyncs == 1 }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status: %+v", s)
	}
	certs.quiet(t, 300*time.Millisecond)
}

func TestDeploymentsFollowSparseRevisions(t *testing.T) {
	_, deploys, conn := controlPlane(t)
	st := state.NewStore()
	f := watch.NewDeployments(conn, st, watch.Scope{}, quietLog())
	run(t, f)

	deploys.next(t, dResync("e1"), dItem("a"), dComplete(3, "e1"), dDeploy(10, "b"), dDelete(11, "a"), dHeartbeat(25, "e1"), nil)
	req := deploys.next(t, dDeploy(40, "c"))
	if req.GetFromRevision() != 25 || req.GetEpoch() != "e1" {
		t.Fatalf("the follower resumed with %v, want revision 25 of epoch e1", req)
	}
	until(t, st, "b and c, without a", func(s *state.Snapshot) bool {
		return s.Deployment(at("a")) == nil && s.Deployment(at("b")) != nil && s.Deployment(at("c")) != nil
	})
	want := func(s watch.Status) bool { return s.Revision == 40 && s.Epoch == "e1" && s.Synced }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status: %+v", s)
	}
	deploys.quiet(t, 300*time.Millisecond)
}

// An event that does not move the stream forward (a change at or below
// the revision applied, a heartbeat or snapshot going back within an
// epoch, an epoch changing mid-stream) or that comes out of order is a
// protocol error: it is not applied, and the follower reconnects and
// resumes from the last revision it did apply.
func TestCertificatesRefuseWhatDoesNotMoveForward(t *testing.T) {
	ca := testpki.NewCA(t, "Root")
	a, b, x := material(t, ca, "a"), material(t, ca, "b"), material(t, ca, "x")
	for _, tc := range []struct {
		name string
		bad  []*certmgrv1.WatchCertificatesResponse
	}{
		{"a change below the revision applied", []*certmgrv1.WatchCertificatesResponse{cDelete(11, "a")}},
		{"a change at the revision applied", []*certmgrv1.WatchCertificatesResponse{cDelete(12, "a")}},
		{"a heartbeat going back", []*certmgrv1.WatchCertificatesResponse{cHeartbeat(11, "e1")}},
		{"a heartbeat of another epoch", []*certmgrv1.WatchCertificatesResponse{cHeartbeat(12, "e2")}},
		{"a snapshot behind the revision applied, same epoch", []*certmgrv1.WatchCertificatesResponse{cResync("e1"), cItem(x), cComplete(5, "e1")}},
		{"a snapshot ending in another epoch than its resync", []*certmgrv1.WatchCertificatesResponse{cResync("e1"), cItem(x), cComplete(20, "e2")}},
		{"a heartbeat inside a snapshot", []*certmgrv1.WatchCertificatesResponse{cResync("e1"), cItem(x), cHeartbeat(12, "e1")}},
		{"a change inside a snapshot", []*certmgrv1.WatchCertificatesResponse{cResync("e1"), cDelete(13, "a")}},
		{"a snapshot item outside a snapshot", []*certmgrv1.WatchCertificatesResponse{cItem(x)}},
		{"a snapshot end without a snapshot", []*certmgrv1.WatchCertificatesResponse{cComplete(20, "e1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, _, conn := controlPlane(t)
			st := state.NewStore()
			f := watch.NewCertificates(conn, st, watch.Scope{}, quietLog())
			run(t, f)

			script := []*certmgrv1.WatchCertificatesResponse{cResync("e1"), cItem(a), cComplete(10, "e1"), cPut(12, b)}
			// What follows the bad events must not be applied either: the
			// follower leaves the stream at the first.
			certs.next(t, append(append(script, tc.bad...), cPut(30, x))...)
			req := certs.next(t, cHeartbeat(12, "e1"), cDelete(13, "b"))
			if req.GetFromRevision() != 12 || req.GetEpoch() != "e1" {
				t.Fatalf("the follower resumed with %v, want revision 12 of epoch e1", req)
			}
			until(t, st, "b deleted at 13", func(s *state.Snapshot) bool { return s.Certificate("b") == nil })
			if s := st.Load(); s.Certificate("a") == nil || s.Certificate("x") != nil || len(s.Certificates) != 1 {
				t.Fatalf("certificates after the refusal: %v (want a alone)", s.Certificates)
			}
			want := func(s watch.Status) bool { return s.Revision == 13 && s.Epoch == "e1" }
			if s := settled(f, want); !want(s) {
				t.Fatalf("status: %+v", s)
			}
		})
	}
}

func TestDeploymentsRefuseAChangeThatGoesBack(t *testing.T) {
	_, deploys, conn := controlPlane(t)
	st := state.NewStore()
	f := watch.NewDeployments(conn, st, watch.Scope{}, quietLog())
	run(t, f)

	deploys.next(t, dResync("e1"), dItem("live"), dComplete(10, "e1"), dDeploy(11, "b"), dDelete(7, "live"))
	req := deploys.next(t, dDeploy(12, "c"))
	if req.GetFromRevision() != 11 || req.GetEpoch() != "e1" {
		t.Fatalf("the follower resumed with %v, want revision 11 of epoch e1", req)
	}
	until(t, st, "c deployed at 12", func(s *state.Snapshot) bool { return s.Deployment(at("c")) != nil })
	if s := st.Load(); s.Deployment(at("live")) == nil || s.Deployment(at("b")) == nil {
		t.Fatalf("deployments after the refusal: %v (want live, b and c)", s.Deployments)
	}
	want := func(s watch.Status) bool { return s.Revision == 12 }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status: %+v", s)
	}
}

// A store restored from a backup has a new epoch, and its revisions may be
// below the ones the follower holds: its snapshot is taken whole.
func TestCertificatesTakeASnapshotOfANewEpochBehind(t *testing.T) {
	certs, _, conn := controlPlane(t)
	ca := testpki.NewCA(t, "Root")
	st := state.NewStore()
	f := watch.NewCertificates(conn, st, watch.Scope{}, quietLog())
	run(t, f)

	certs.next(t, cResync("e1"), cItem(material(t, ca, "a")), cComplete(30, "e1"), nil)
	req := certs.next(t, cResync("e2"), cItem(material(t, ca, "b")), cComplete(4, "e2"), cPut(9, material(t, ca, "c")))
	if req.GetFromRevision() != 30 || req.GetEpoch() != "e1" {
		t.Fatalf("the follower resumed with %v, want revision 30 of epoch e1", req)
	}
	until(t, st, "the restored store's b and c", func(s *state.Snapshot) bool {
		return s.Certificate("a") == nil && s.Certificate("b") != nil && s.Certificate("c") != nil
	})
	want := func(s watch.Status) bool { return s.Revision == 9 && s.Epoch == "e2" && s.Resyncs == 2 }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status: %+v", s)
	}
	certs.quiet(t, 300*time.Millisecond)
}
