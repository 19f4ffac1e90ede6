package etcdstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// TestFeedAcrossReplicas: a write through one replica reaches the feed and
// the publisher of another, with its type, in revision order; names,
// API keys and metadata leave no entry.
func TestFeedAcrossReplicas(t *testing.T) {
	prefix := testetcd.Prefix(t)
	a := open(t, testetcd.NewClient(t), prefix)
	b := open(t, testetcd.NewClient(t), prefix)
	var mu sync.Mutex
	var published []store.Entry
	b.SetPublisher(func(e store.Entry) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, e)
	})
	start, err := b.Revision()
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Cert("acme", "shop", "payments")
	created, err := a.CreateCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutAPIKey(store.APIKey{ID: "key-1", Hash: "hash-1", Role: "edge", Account: "acme"}); err != nil {
		t.Fatal(err)
	}
	_, disabled, err := a.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.State = store.StateDisabled
		return store.ChangeDisabled, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := a.DeleteCertificate("acme", "shop", c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.Revision()
	if err != nil || head != deleted.Revision {
		t.Fatalf("the other replica's Revision() = %d, %v; want the delete's %d", head, err, deleted.Revision)
	}
	got, _, _, _ := b.ChangesSince(start, 100)
	want := []store.Entry{created.Entry(), disabled.Entry(), deleted.Entry()}
	check := func(what string, got []store.Entry) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries %+v, want %d", what, len(got), got, len(want))
		}
		for i := range want {
			if got[i].Revision != want[i].Revision || got[i].Type != want[i].Type || got[i].CertificateID != c.ID || got[i].Version != want[i].Version {
				t.Errorf("%s[%d] = %+v, want %+v", what, i, got[i], want[i])
			}
		}
	}
	check("ChangesSince on the other replica", got)
	mu.Lock()
	defer mu.Unlock()
	check("published on the other replica", published)
}

// TestResumeAfterCompaction: a subscriber resuming at a revision etcd has
// compacted, on a replica that started after the compaction, gets an
// explicit resync and a snapshot, not a silent gap; on the replica that
// watched the whole time it resumes from memory.
func TestResumeAfterCompaction(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := open(t, cli, prefix)
	first, err := a.CreateCertificate(storetest.Cert("acme", "shop", "one"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.CreateCertificate(storetest.Cert("acme", "shop", "two"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteCertificate("acme", "shop", first.CertificateID, nil); err != nil {
		t.Fatal(err)
	}
	compact(t, cli)

	b := open(t, testetcd.NewClient(t), prefix)
	from := changefeed.Position{Revision: first.Revision, Epoch: b.Epoch()}
	sink := follow(t, b, from)
	if sink.resyncs != 1 || !strings.Contains(sink.reason, "older than the retained history") || sink.changes != 0 || sink.snapshot == 0 {
		t.Errorf("resume at compacted %d on a new replica: %d resyncs (%q), %d changes, snapshot at %d; want one resync and a snapshot",
			first.Revision, sink.resyncs, sink.reason, sink.changes, sink.snapshot)
	}
	snap, _, err := b.Snapshot()
	if err != nil || len(snap) != 1 || snap[0].ID != second.CertificateID {
		t.Errorf("snapshot after the compaction = %+v, %v; want only %s", snap, err, second.CertificateID)
	}

	sink = follow(t, a, from)
	if sink.resyncs != 0 || sink.changes != 2 {
		t.Errorf("resume at %d on the replica that kept it: %d resyncs (%q), %d changes; want the 2 changes after it", first.Revision, sink.resyncs, sink.reason, sink.changes)
	}
}

// compact compacts the member's history up to its current revision.
func compact(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/certbind-test/ready")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

// follow runs changefeed.Follow on s's feed from a position until the
// catch-up is done (the first heartbeat) and returns what it sent.
func follow(t *testing.T, s *Store, from changefeed.Position) *recorder {
	t.Helper()
	head, err := s.Revision()
	if err != nil {
		t.Fatal(err)
	}
	hub := changefeed.NewHub[store.Entry](head)
	s.SetPublisher(hub.Publish)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := &recorder{s: s, done: cancel}
	err = changefeed.Follow(ctx, hub, s, r, from, changefeed.Options{Heartbeat: 50 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow = %v", err)
	}
	return r
}

// recorder is a subscriber that counts what it is sent and stops at the
// first heartbeat.
type recorder struct {
	s                *Store
	done             func()
	resyncs, changes int
	reason           string
	snapshot         uint64
}

func (r *recorder) Resync(reason string, requested, oldest uint64) error {
	r.resyncs++
	r.reason = reason
	return nil
}

func (r *recorder) Snapshot() (uint64, error) {
	_, rev, err := r.s.Snapshot()
	r.snapshot = rev
	return rev, err
}

func (r *recorder) Change(store.Entry) error { r.changes++; return nil }

func (r *recorder) Heartbeat(uint64) error { r.done(); return nil }

// FuzzEntries: any event of a key under the prefix (a foreign or torn
// write included) is turned into an entry of the certificate its key
// names, or ignored, or refused; never a panic.
func FuzzEntries(f *testing.F) {
	rec := `{"id":"crt-1","account":"acme","project":"shop","name":"a","environmentTypes":["production"],"version":1}`
	f.Add("/p/certs/acme/shop/crt-1", []byte(rec), []byte(nil), int64(1), false)
	f.Add("/p/certs/acme/shop/crt-1", []byte(strings.Replace(rec, `"version":1`, `"version":2,"change":"rotated"`, 1)), []byte(rec), int64(2), false)
	f.Add("/p/certs/acme/shop/crt-1", []byte(`{"id": "torn`), []byte(rec), int64(3), false)
	f.Add("/p/certs/acme/shop/crt-1", []byte(nil), []byte(rec), int64(0), true)
	f.Add("/p/certs/acme/shop/crt-1", []byte(nil), []byte(nil), int64(1), true)
	f.Add("/p/names/acme/shop/a", []byte("crt-1"), []byte(nil), int64(1), false)
	f.Add("/p/certs/acme/shop", []byte(`{}`), []byte(nil), int64(1), false)
	s := &Store{prefix: "/p/"}
	f.Fuzz(func(t *testing.T, key string, value, prev []byte, version int64, del bool) {
		ev := &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: value, ModRevision: 7, Version: version}}
		if del {
			ev.Type = clientv3.EventTypeDelete
		}
		if prev != nil {
			ev.PrevKv = &mvccpb.KeyValue{Key: []byte(key), Value: prev, ModRevision: 5, Version: 1}
		}
		entries, err := s.entries(7, []*clientv3.Event{ev})
		if err != nil {
			return
		}
		for _, e := range entries {
			account, project, id, ok := splitKey("/p/certs/", key)
			if !ok || e.Account != account || e.Project != project || e.CertificateID != id || e.Revision != 7 {
				t.Fatalf("key %q made the entry %+v", key, e)
			}
			if e.Type == store.ChangeDeleted && e.Before == nil || e.Type != store.ChangeDeleted && e.After == nil {
				t.Fatalf("entry %+v lacks the place its type needs", e)
			}
		}
	})
}
