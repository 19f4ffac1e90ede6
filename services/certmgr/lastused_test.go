package certmgr_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/services/certmgr/store"
)

// countingStore is the real store, counting the writes of last use.
type countingStore struct {
	*store.Store
	touches atomic.Int32
}

func (c *countingStore) TouchAPIKeys(used map[string]time.Time) error {
	c.touches.Add(1)
	return c.Store.TouchAPIKeys(used)
}

// TestLastUsedIsBatched authenticates many times with two keys: nothing is
// written until FlushLastUsed, which writes both in one call, and a store
// opened again has the latest times.
func TestLastUsedIsBatched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certmgr.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	a := auth.NewAuthenticator("", "", cs)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a.SetClock(func() time.Time { return now })
	k1, rec1, err := a.Issue("acme", auth.RoleAccount, "", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	k2, rec2, err := a.Issue("acme", auth.RoleEdge, "", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		key := k1
		if i%2 == 1 {
			key = k2
		}
		if _, err := a.Authenticate(key); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.touches.Load(); n != 0 {
		t.Fatalf("%d writes for 1000 authentications before a flush, want 0", n)
	}
	if err := a.FlushLastUsed(); err != nil {
		t.Fatal(err)
	}
	if err := a.FlushLastUsed(); err != nil { // nothing new: no write
		t.Fatal(err)
	}
	if n := cs.touches.Load(); n != 1 {
		t.Fatalf("%d writes after two flushes, want 1", n)
	}
	st.Close()

	st, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.ListAPIKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{rec1.ID: now.Add(-time.Millisecond), rec2.ID: now}
	for _, k := range keys {
		if k.LastUsedAt == nil || !k.LastUsedAt.Equal(want[k.ID]) {
			t.Errorf("key %s last used %v after reopening, want %v", k.ID, k.LastUsedAt, want[k.ID])
		}
	}
}
