package watch

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// TestWireLayout holds both streams to the layout wire.go reads them
// through: a field renamed, retyped or added to the oneof in one stream's
// protos fails here, not on an edge.
func TestWireLayout(t *testing.T) {
	for _, s := range []struct {
		name      string
		req, resp proto.Message
	}{
		{"certificates", &certmgrv1.WatchCertificatesRequest{}, &certmgrv1.WatchCertificatesResponse{}},
		{"deployments", &deploytrackerv1.WatchDeploymentsRequest{}, &deploytrackerv1.WatchDeploymentsResponse{}},
	} {
		t.Run(s.name, func(t *testing.T) {
			req := s.req.ProtoReflect().Descriptor().Fields()
			for name, k := range map[protoreflect.Name]protoreflect.Kind{"from_revision": protoreflect.Uint64Kind, "epoch": protoreflect.StringKind,
				"account": protoreflect.StringKind, "project": protoreflect.StringKind, "environment_type": protoreflect.StringKind} {
				if f := req.ByName(name); f == nil || f.Kind() != k || f.Cardinality() == protoreflect.Repeated {
					t.Errorf("request field %s: %v, want a single %v", name, f, k)
				}
			}
			oneof := s.resp.ProtoReflect().Descriptor().Oneofs().ByName("event")
			if oneof == nil {
				t.Fatal("the response has no oneof event")
			}
			// Each event's fields the follower reads, and their kinds.
			reads := map[kind][]protoreflect.Name{resync: {"reason", "epoch"}, snapshotComplete: {"revision", "epoch"},
				change: {"revision"}, heartbeat: {"revision", "epoch"}}
			if oneof.Fields().Len() != len(kinds) {
				t.Errorf("the oneof has %d events, the follower knows %d", oneof.Fields().Len(), len(kinds))
			}
			for i := range oneof.Fields().Len() {
				f := oneof.Fields().Get(i)
				k, ok := kinds[f.Name()]
				if !ok || f.Kind() != protoreflect.MessageKind {
					t.Errorf("event %s is not one the follower knows", f.Name())
					continue
				}
				for _, name := range reads[k] {
					want := protoreflect.StringKind
					if name == "revision" {
						want = protoreflect.Uint64Kind
					}
					if g := f.Message().Fields().ByName(name); g == nil || g.Kind() != want || g.Cardinality() == protoreflect.Repeated {
						t.Errorf("event %s field %s: %v, want a single %v", f.Name(), name, g, want)
					}
				}
			}
		})
	}
}

func TestFillRequest(t *testing.T) {
	at, scope := position{revision: 1 << 40, epoch: "e1"}, Scope{Account: "acme", Project: "shop", EnvironmentType: "production"}
	c := &certmgrv1.WatchCertificatesRequest{}
	fillRequest(c.ProtoReflect(), at, scope)
	d := &deploytrackerv1.WatchDeploymentsRequest{}
	fillRequest(d.ProtoReflect(), at, scope)
	for _, got := range []interface {
		GetFromRevision() uint64
		GetEpoch() string
		GetAccount() string
		GetProject() string
		GetEnvironmentType() string
	}{c, d} {
		if got.GetFromRevision() != 1<<40 || got.GetEpoch() != "e1" || got.GetAccount() != "acme" || got.GetProject() != "shop" || got.GetEnvironmentType() != "production" {
			t.Errorf("request %v", got)
		}
	}
}

// TestReadEvent reads each event of the certificate stream, and the same
// event of the deployment stream: the two streams' messages are the same on
// the wire (fields and numbers) but for what a snapshot item holds, so each
// case is also decoded as a deployment message.
func TestReadEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *certmgrv1.WatchCertificatesResponse
		want event
	}{
		{"resync", &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Resync{
			Resync: &certmgrv1.Resync{Reason: "why", Epoch: "e1", RequestedRevision: 4}}}, event{kind: resync, reason: "why", epoch: "e1"}},
		{"snapshot item", &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{
			SnapshotItem: &certmgrv1.CertificateMaterial{}}}, event{kind: snapshotItem}},
		{"snapshot end", &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotComplete{
			SnapshotComplete: &certmgrv1.SnapshotComplete{Revision: 9, Epoch: "e1"}}}, event{kind: snapshotComplete, revision: 9, epoch: "e1"}},
		{"change", &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{
			Change: &certmgrv1.CertificateChange{Revision: 1 << 50, CertificateId: "c"}}}, event{kind: change, revision: 1 << 50}},
		{"heartbeat", &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Heartbeat{
			Heartbeat: &certmgrv1.Heartbeat{Revision: 12, Epoch: "e2"}}}, event{kind: heartbeat, revision: 12, epoch: "e2"}},
		{"a response without an event", &certmgrv1.WatchCertificatesResponse{}, event{}},
	} {
		if got := readEvent(tc.m.ProtoReflect()); got != tc.want {
			t.Errorf("certificate %s: %+v, want %+v", tc.name, got, tc.want)
		}
		b, err := proto.Marshal(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		d := &deploytrackerv1.WatchDeploymentsResponse{}
		if err := proto.Unmarshal(b, d); err != nil {
			t.Fatalf("%s as a deployment message: %v", tc.name, err)
		}
		if got := readEvent(d.ProtoReflect()); got != tc.want {
			t.Errorf("deployment %s (%v): %+v, want %+v", tc.name, d, got, tc.want)
		}
	}
	// A snapshot item's contents differ; what kind of event it is does not.
	item := &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{
		SnapshotItem: &deploytrackerv1.Deployment{Id: "d", Revision: 3}}}
	if got := readEvent(item.ProtoReflect()); got != (event{kind: snapshotItem}) {
		t.Errorf("deployment snapshot item: %+v", got)
	}
}
