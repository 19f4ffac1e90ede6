package etcdstore

import (
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/deploytracker/store"
	"github.com/certbind/certbind/services/deploytracker/store/storetest"
)

// TestFeedAcrossReplicas: a deploy, a redeploy and a delete through one
// replica reach the feed and the publisher of another, in revision order;
// a deploy in progress and its abort leave no entry.
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
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	deploy := func(p store.Pending) store.Change {
		t.Helper()
		if err := a.BeginDeploy(p); err != nil {
			t.Fatal(err)
		}
		ch, err := a.CommitDeploy(p, storetest.Deployment(p, at), "dep-feed1")
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	first := deploy(storetest.Pending("acme", "prod", "production", "crt-1"))
	aborted := storetest.Pending("acme", "prod", "production", "crt-2")
	if err := a.BeginDeploy(aborted); err != nil {
		t.Fatal(err)
	}
	if err := a.AbortDeploy(aborted); err != nil {
		t.Fatal(err)
	}
	second := deploy(storetest.Pending("acme", "prod", "production", "crt-3"))
	deleted, err := a.DeleteDeployment("acme", "shop", first.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Entry{first.Entry(), second.Entry(), deleted.Entry()}
	if head, err := b.Revision(); err != nil || head != deleted.Revision {
		t.Fatalf("the other replica's Revision() = %d, %v; want the delete's %d", head, err, deleted.Revision)
	}
	check := func(what string, got []store.Entry) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries %+v, want %d", what, len(got), got, len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Revision != w.Revision || g.Type != w.Type || g.DeploymentID != w.DeploymentID || g.Generation != w.Generation ||
				(g.Before == nil) != (w.Before == nil) || (g.After == nil) != (w.After == nil) {
				t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
			}
		}
	}
	got, _, _, _ := b.ChangesSince(start, 100)
	check("ChangesSince on the other replica", got)
	mu.Lock()
	defer mu.Unlock()
	check("published on the other replica", published)
}

// FuzzEntries: any event of a key under the prefix (a foreign or torn
// write included) is turned into an entry of the deployment its key names,
// or ignored, or refused; never a panic.
func FuzzEntries(f *testing.F) {
	f.Add("/p/deployments/acme/shop/prod", []byte(`{"id":"dep-1","account":"acme","project":"shop","environment":"prod"}`), []byte(nil), int64(1), false)
	f.Add("/p/deployments/acme/shop/prod", []byte(`{"id":"dep-1"`), []byte(`{"id":"dep-1","account":"acme","project":"shop","environment":"prod","generation":1}`), int64(2), false)
	f.Add("/p/deployments/acme/shop/prod", []byte(nil), []byte(`{}`), int64(0), true)
	f.Add("/p/deployments/acme/shop/prod", []byte(nil), []byte(nil), int64(1), true)
	f.Add("/p/ids/acme/shop/dep-1", []byte("prod"), []byte(nil), int64(1), false)
	f.Add("/p/deployments/acme/shop", []byte(`{}`), []byte(nil), int64(1), false)
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
			account, project, _, ok := splitKey("/p/deployments/", key)
			if !ok || e.Account != account || e.Project != project || e.Revision != 7 {
				t.Fatalf("key %q made the entry %+v", key, e)
			}
		}
	})
}
