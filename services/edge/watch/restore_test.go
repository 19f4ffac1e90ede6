package watch_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// tapped records what a follower's tap heard.
type tapped struct {
	mu   sync.Mutex
	revs []uint64
}

func (tp *tapped) tap(_ proto.Message, rev uint64, _ string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.revs = append(tp.revs, rev)
}

func (tp *tapped) get() []uint64 {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]uint64(nil), tp.revs...)
}

// A follower given a kept state serves it at once (synced, from the
// cache, with its last-heard time), resumes the stream from its revision
// and epoch, and counts as live from the first change; the tap hears
// every message it accepted.
func TestRestoredCertificatesResumeFromTheirRevision(t *testing.T) {
	certs, _, conn := controlPlane(t)
	ca := testpki.NewCA(t, "Root")
	st := state.NewStore()
	f := watch.NewCertificates(conn, st, watch.Scope{Account: "acme"}, quietLog())
	var tp tapped
	f.Tap(tp.tap)
	heard := time.UnixMilli(1_700_000_000_000)
	if err := f.Restore([]proto.Message{cItem(material(t, ca, "a"))}, 25, "e1", heard); err != nil {
		t.Fatal(err)
	}
	if c := st.Load().Certificate("a"); c == nil || c.TLS == nil {
		t.Fatalf("restored certificate a: %+v", c)
	}
	if s := f.Status(); !s.Synced || !s.FromCache || s.Revision != 25 || s.Epoch != "e1" || !s.LastEvent.Equal(heard) || s.Connected {
		t.Fatalf("status after Restore: %+v", s)
	}
	run(t, f)
	req := certs.next(t, cPut(30, material(t, ca, "b")))
	if req.GetFromRevision() != 25 || req.GetEpoch() != "e1" {
		t.Fatalf("the follower started with %v, want a resume from revision 25 of epoch e1", req)
	}
	until(t, st, "a and b", func(s *state.Snapshot) bool { return s.Certificate("a") != nil && s.Certificate("b") != nil })
	want := func(s watch.Status) bool { return !s.FromCache && s.Revision == 30 && s.Resyncs == 0 }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status after the first change: %+v", s)
	}
	if revs := tp.get(); len(revs) != 1 || revs[0] != 30 {
		t.Fatalf("the tap heard revisions %v, want [30]", revs)
	}
}

// A server that answers the resume with a resync (here: a store restored
// to another epoch) replaces the kept state whole.
func TestRestoredDeploymentsGiveWayToAResync(t *testing.T) {
	_, deploys, conn := controlPlane(t)
	st := state.NewStore()
	f := watch.NewDeployments(conn, st, watch.Scope{}, quietLog())
	if err := f.Restore([]proto.Message{dItem("a"), dItem("b")}, 10, "e1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if s := st.Load(); s.Deployment(at("a")) == nil || s.Deployment(at("b")) == nil {
		t.Fatalf("restored deployments: %v", s.Deployments)
	}
	run(t, f)
	req := deploys.next(t, dResync("e2"), dItem("c"), dComplete(3, "e2"))
	if req.GetFromRevision() != 10 || req.GetEpoch() != "e1" {
		t.Fatalf("the follower started with %v, want a resume from revision 10 of epoch e1", req)
	}
	until(t, st, "c alone", func(s *state.Snapshot) bool { return len(s.Deployments) == 1 && s.Deployment(at("c")) != nil })
	want := func(s watch.Status) bool { return !s.FromCache && s.Revision == 3 && s.Epoch == "e2" && s.Resyncs == 1 }
	if s := settled(f, want); !want(s) {
		t.Fatalf("status after the resync: %+v", s)
	}
}

// Restore takes only the snapshot items of its own stream, and installs
// nothing otherwise.
func TestRestoreRefusesWhatIsNotASnapshotItem(t *testing.T) {
	_, _, conn := controlPlane(t)
	ca := testpki.NewCA(t, "Root")
	for name, items := range map[string][]proto.Message{
		"the other stream's item": {dItem("a")},
		"a change":                {cPut(3, material(t, ca, "a"))},
		"a heartbeat":             {cHeartbeat(3, "e1")},
		"another message":         {&certmgrv1.Certificate{Id: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			st := state.NewStore()
			f := watch.NewCertificates(conn, st, watch.Scope{}, quietLog())
			if err := f.Restore(items, 3, "e1", time.Now()); err == nil {
				t.Fatal("Restore took it")
			}
			if s := f.Status(); s.Synced || s.FromCache || len(st.Load().Certificates) != 0 {
				t.Fatalf("a refused Restore changed the follower: %+v, %d certificates", s, len(st.Load().Certificates))
			}
		})
	}
}
