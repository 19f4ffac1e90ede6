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

	"github.com/certbind/certbind/services/certmgr/store"
)

// Run runs the suite. open returns a new, empty store for one subtest and
// arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"NamesAreCreatedIfAbsent", testNames},
		{"ConcurrentCreatesOfOneName", testConcurrentNames},
		{"RevisionsIncrease", testRevisions},
		{"ChangesSince", feed(testChangesSince)},
		{"PublisherGetsCommittedChanges", feed(testPublisher)},
		{"ListAndResolve", testListResolve},
		{"UpdateSeesCurrentRecord", testUpdate},
		{"DeleteProtocol", testDeleteProtocol},
		{"EnvironmentTypeRemovalMarks", testRemovalMarks},
		{"APIKeys", testAPIKeys},
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

var seq atomic.Uint64

// Cert returns a client certificate record with a unique id.
func Cert(account, project, name string) *store.Certificate {
	n := seq.Add(1)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	return &store.Certificate{
		ID: fmt.Sprintf("crt-st%06d", n), Account: account, Project: project, Name: name,
		Kind: store.KindClient, EnvironmentTypes: []string{"development", "production"},
		State: store.StateActive, Version: 1,
		ChainPEM:  []byte("-----BEGIN CERTIFICATE-----\n" + name + "\n-----END CERTIFICATE-----\n"),
		SealedKey: []byte("sealed:" + name),
		Subject:   "CN=" + name, Issuer: "CN=test CA", SerialNumber: fmt.Sprint(n),
		Fingerprint: fmt.Sprintf("%064x", n),
		NotBefore:   at, NotAfter: at.Add(365 * 24 * time.Hour), CreatedAt: at, UpdatedAt: at,
	}
}

func create(t *testing.T, s Store, c *store.Certificate) store.Change {
	t.Helper()
	ch, err := s.CreateCertificate(c)
	if err != nil {
		t.Fatalf("CreateCertificate(%s/%s/%s): %v", c.Account, c.Project, c.Name, err)
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

// changesAfter returns every retained change after rev.
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

func testNames(t *testing.T, s Store) {
	first := Cert("acme", "shop", "payments")
	create(t, s, first)
	rev := revision(t, s)
	_, err := s.CreateCertificate(Cert("acme", "shop", "payments"))
	if !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("second create of a name = %v, want ErrNameTaken", err)
	}
	unchanged(t, s, rev, "a refused create")
	if list, _ := s.ListCertificates("acme", "shop", ""); len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("after a refused create the project lists %d certificates, want only %s", len(list), first.ID)
	}
	// Names are unique per account and project only.
	create(t, s, Cert("acme", "other", "payments"))
	create(t, s, Cert("globex", "shop", "payments"))
	// A deleted certificate's name is free again.
	if _, err := s.DeleteCertificate("acme", "shop", first.ID, nil); err != nil {
		t.Fatal(err)
	}
	create(t, s, Cert("acme", "shop", "payments"))
}

func testConcurrentNames(t *testing.T, s Store) {
	const n = 8
	var wg sync.WaitGroup
	var won, taken atomic.Int32
	for range n {
		wg.Go(func() {
			_, err := s.CreateCertificate(Cert("acme", "shop", "race"))
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, store.ErrNameTaken):
				taken.Add(1)
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || taken.Load() != n-1 {
		t.Errorf("%d concurrent creates of one name: %d won and %d were refused, want 1 and %d", n, won.Load(), taken.Load(), n-1)
	}
}

func testRevisions(t *testing.T, s Store) {
	last := revision(t, s)
	c := Cert("acme", "shop", "a")
	writes := []func() (store.Change, error){
		func() (store.Change, error) { return s.CreateCertificate(c) },
		func() (store.Change, error) { return s.CreateCertificate(Cert("acme", "shop", "b")) },
		func() (store.Change, error) {
			_, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
				c.State = store.StateDisabled
				return store.ChangeDisabled, nil
			})
			return ch, err
		},
		func() (store.Change, error) { return s.DeleteCertificate("acme", "shop", c.ID, nil) },
	}
	for i, w := range writes {
		ch, err := w()
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if ch.Revision <= last {
			t.Fatalf("write %d took revision %d, not after %d", i, ch.Revision, last)
		}
		if ch.After != nil && ch.After.Revision != ch.Revision {
			t.Errorf("write %d: record revision %d, change revision %d", i, ch.After.Revision, ch.Revision)
		}
		if ch.After != nil {
			if got, err := s.GetCertificate("acme", "shop", ch.CertificateID); err != nil || got.Revision != ch.Revision {
				t.Errorf("after write %d the record reads back as %+v, %v; want revision %d", i, got, err, ch.Revision)
			}
		}
		if _, ok := s.(Feed); ok {
			if got := revision(t, s); got != ch.Revision {
				t.Errorf("after write %d Revision() = %d, want its revision %d", i, got, ch.Revision)
			}
		}
		last = ch.Revision
	}
	// A write that changes nothing takes no revision.
	b, err := s.ResolveCertificates("acme", "shop", []string{"b"}, nil)
	if err != nil || len(b) != 1 {
		t.Fatalf("resolve b: %v %v", b, err)
	}
	got, ch, err := s.UpdateCertificate("acme", "shop", b[0].ID, func(*store.Certificate) (string, error) { return "", nil })
	if err != nil || ch.Revision != 0 || got == nil || got.ID != b[0].ID {
		t.Errorf("no-op update = %v, change rev %d, %v; want the record, no change", got, ch.Revision, err)
	}
	unchanged(t, s, last, "a no-op update")

	// Concurrent writes take distinct revisions, logged in increasing order.
	const n = 16
	var wg sync.WaitGroup
	revs := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			ch, err := s.CreateCertificate(Cert("acme", "race", fmt.Sprintf("c%d", i)))
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
			revs[i] = ch.Revision
		})
	}
	wg.Wait()
	slices.Sort(revs)
	if distinct := slices.Compact(slices.Clone(revs)); len(distinct) != n || revs[0] <= last {
		t.Errorf("concurrent writes took revisions %v after %d, want %d distinct ones after it", revs, last, n)
	}
	f, ok := s.(Feed)
	if !ok {
		return
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
		t.Fatalf("ChangesSince(head) of a new store = %d changes, compacted %d, head %d, %v; want none, compacted at most head %d", len(changes), compacted, head, err, start)
	}
	var written []store.Change
	for i := range 7 {
		written = append(written, create(t, s, Cert("acme", "shop", fmt.Sprintf("c%d", i))))
	}
	written = append(written, func() store.Change {
		ch, err := s.DeleteCertificate("acme", "shop", written[2].CertificateID, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}())
	last := written[len(written)-1].Revision
	for i := -1; i < len(written); i++ {
		since := start
		if i >= 0 {
			since = written[i].Revision
		}
		for _, limit := range []int{1, 3, 100} {
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
				// The entry says where the certificate was before and after
				// and its version, and nothing more: no material.
				w := want[j].Entry()
				if c.Revision != w.Revision || c.Type != w.Type || c.CertificateID != w.CertificateID || c.Account != w.Account ||
					c.Project != w.Project || !c.At.Equal(w.At) || !reflect.DeepEqual(c.Before, w.Before) || !reflect.DeepEqual(c.After, w.After) ||
					c.Version != w.Version {
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
	if changes, _, _, err := f.ChangesSince(last, 0); err != nil || len(changes) != 0 {
		t.Errorf("ChangesSince(head, 0) = %d changes, %v", len(changes), err)
	}
	if changes, _, _, err := f.ChangesSince(last+1000, 10); err != nil || len(changes) != 0 {
		t.Errorf("ChangesSince(beyond head) = %d changes, %v", len(changes), err)
	}
	del := written[len(written)-1]
	if del.Type != store.ChangeDeleted || del.After != nil || del.Before == nil || del.Before.ID != del.CertificateID {
		t.Errorf("delete change = %+v, want deleted with Before and no After", del)
	}
}

func testPublisher(t *testing.T, s Store, f Feed) {
	var mu sync.Mutex
	var got []store.Entry
	f.SetPublisher(func(c store.Entry) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	})
	c := create(t, s, Cert("acme", "shop", "a"))
	if _, err := s.CreateCertificate(Cert("acme", "shop", "a")); err == nil {
		t.Fatal("a taken name was accepted")
	}
	d, err := s.DeleteCertificate("acme", "shop", c.CertificateID, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Revision != c.Revision || got[1].Revision != d.Revision || got[1].Type != store.ChangeDeleted {
		t.Errorf("published %+v, want the create at %d and the delete at %d only", got, c.Revision, d.Revision)
	}
}

func testListResolve(t *testing.T, s Store) {
	var ids []string
	for _, n := range []string{"delta", "alpha", "charlie", "bravo"} {
		c := Cert("acme", "shop", n)
		create(t, s, c)
		ids = append(ids, c.ID)
	}
	create(t, s, Cert("acme", "shopx", "aaa"))
	create(t, s, Cert("acme", "sho", "zzz"))
	names := func(list []*store.Certificate) []string {
		var out []string
		for _, c := range list {
			out = append(out, c.Name)
		}
		return out
	}
	for after, want := range map[string][]string{
		"": {"alpha", "bravo", "charlie", "delta"}, "alpha": {"bravo", "charlie", "delta"},
		"b": {"bravo", "charlie", "delta"}, "delta": nil, "zulu": nil,
	} {
		list, err := s.ListCertificates("acme", "shop", after)
		if err != nil || !slices.Equal(names(list), want) {
			t.Errorf("ListCertificates(after %q) = %v, %v; want %v", after, names(list), err, want)
		}
	}
	if list, err := s.ListCertificates("acme", "none", ""); err != nil || len(list) != 0 {
		t.Errorf("empty project lists %v, %v", names(list), err)
	}
	got, err := s.ResolveCertificates("acme", "shop", []string{"alpha", "missing", "bravo"}, []string{ids[1], ids[3], "crt-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); len(n) != 2 || !slices.Contains(n, "alpha") || !slices.Contains(n, "bravo") {
		t.Errorf("ResolveCertificates = %v, want alpha and bravo once each", n)
	}
	if got, err := s.ResolveCertificates("globex", "shop", []string{"alpha"}, []string{ids[0]}); err != nil || len(got) != 0 {
		t.Errorf("another account resolves %v, %v", names(got), err)
	}
	if _, err := s.GetCertificate("globex", "shop", ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get from another account = %v, want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, s Store) {
	c := Cert("acme", "shop", "a")
	create(t, s, c)
	rev := revision(t, s)
	if _, _, err := s.UpdateCertificate("acme", "shop", "crt-missing", func(*store.Certificate) (string, error) { return store.ChangeUpdated, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing certificate = %v, want ErrNotFound", err)
	}
	veto := errors.New("veto")
	if _, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.State = store.StateDisabled
		return store.ChangeDisabled, veto
	}); !errors.Is(err, veto) {
		t.Errorf("vetoed update = %v, want the veto", err)
	}
	if _, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.Name = "renamed"
		return store.ChangeUpdated, nil
	}); err == nil {
		t.Error("an update that renames the certificate was accepted")
	}
	unchanged(t, s, rev, "refused updates")
	if got, err := s.GetCertificate("acme", "shop", c.ID); err != nil || got.State != store.StateActive || got.Name != "a" {
		t.Fatalf("after refused updates: %+v, %v", got, err)
	}
	after, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.EnvironmentTypes[0] = "staging"
		c.Version++
		return store.ChangeRotated, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Type != store.ChangeRotated || ch.Before == nil || ch.Before.Version != 1 || ch.Before.EnvironmentTypes[0] != "development" ||
		ch.After == nil || ch.After.Version != 2 || after.EnvironmentTypes[0] != "staging" {
		t.Errorf("rotate change = %+v (before %+v), want Before at version 1 with its own types and After at 2", ch, ch.Before)
	}
	if got, _ := s.GetCertificate("acme", "shop", c.ID); got.Version != 2 || got.Revision != ch.Revision {
		t.Errorf("stored after rotate: version %d revision %d, want 2 and %d", got.Version, got.Revision, ch.Revision)
	}
}

func testDeleteProtocol(t *testing.T, s Store) {
	c := Cert("acme", "shop", "a")
	create(t, s, c)
	// 1. The mark: deploys refuse a deleting certificate, and PrevState
	// holds the state to go back to.
	marked, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.PrevState, c.State = c.State, store.StateDeleting
		return store.ChangeUpdated, nil
	})
	if err != nil || marked.State != store.StateDeleting || ch.After.State != store.StateDeleting {
		t.Fatalf("mark deleting = %+v, %v", marked, err)
	}
	got, err := s.GetCertificate("acme", "shop", c.ID)
	if err != nil || got.State != store.StateDeleting || got.PrevState != store.StateActive {
		t.Fatalf("stored mark = %+v, %v", got, err)
	}
	rev := revision(t, s)
	// 2. The check runs on the stored record and can veto the delete,
	// which then changes nothing.
	referenced := errors.New("referenced")
	var seen *store.Certificate
	if _, err := s.DeleteCertificate("acme", "shop", c.ID, func(c *store.Certificate) error {
		seen = c
		return referenced
	}); !errors.Is(err, referenced) {
		t.Fatalf("vetoed delete = %v, want the veto", err)
	}
	if seen == nil || seen.State != store.StateDeleting || seen.ID != c.ID {
		t.Errorf("delete check saw %+v, want the marked record", seen)
	}
	unchanged(t, s, rev, "a vetoed delete")
	// 3. A refused delete restores the state.
	if _, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.State, c.PrevState = c.PrevState, ""
		return store.ChangeUpdated, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetCertificate("acme", "shop", c.ID); got.State != store.StateActive || got.PrevState != "" {
		t.Errorf("restored record = %+v", got)
	}
	// 4. An allowed delete removes the record and its name.
	del, err := s.DeleteCertificate("acme", "shop", c.ID, func(*store.Certificate) error { return nil })
	if err != nil || del.Type != store.ChangeDeleted || del.Before == nil || del.Before.ID != c.ID || del.After != nil {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := s.GetCertificate("acme", "shop", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteCertificate("acme", "shop", c.ID, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
	if list, _ := s.ResolveCertificates("acme", "shop", []string{"a"}, nil); len(list) != 0 {
		t.Errorf("deleted name still resolves to %d certificates", len(list))
	}
}

func testRemovalMarks(t *testing.T, s Store) {
	c := Cert("acme", "shop", "a")
	create(t, s, c)
	if _, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.RemovingTypes = []string{"production"}
		return store.ChangeUpdated, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCertificate("acme", "shop", c.ID)
	if err != nil || !slices.Equal(got.RemovingTypes, []string{"production"}) || !slices.Equal(got.EnvironmentTypes, []string{"development", "production"}) {
		t.Fatalf("marked record = %+v, %v; want production being removed and still listed", got, err)
	}
	snap, _, err := s.Snapshot()
	if err != nil || len(snap) != 1 || !slices.Equal(snap[0].RemovingTypes, []string{"production"}) {
		t.Errorf("snapshot of a marked record = %+v, %v", snap, err)
	}
	_, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.EnvironmentTypes, c.RemovingTypes = []string{"development"}, nil
		return store.ChangeUpdated, nil
	})
	if err != nil || ch.Before == nil || !slices.Equal(ch.Before.RemovingTypes, []string{"production"}) || len(ch.After.RemovingTypes) != 0 {
		t.Fatalf("finish removal = %+v, %v", ch, err)
	}
	if got, _ := s.GetCertificate("acme", "shop", c.ID); len(got.RemovingTypes) != 0 || !slices.Equal(got.EnvironmentTypes, []string{"development"}) {
		t.Errorf("after the removal: %+v", got)
	}
}

func testAPIKeys(t *testing.T, s Store) {
	rev := revision(t, s)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	keys := []store.APIKey{
		{ID: "key-b", Hash: "hash-b", Role: "write", Account: "acme", CreatedAt: base.Add(time.Hour)},
		{ID: "key-a", Hash: "hash-a", Role: "read", Account: "acme", Project: "shop", CreatedAt: base},
		{ID: "key-c", Hash: "hash-c", Role: "read", Account: "globex", CreatedAt: base},
		{ID: "key-d", Hash: "hash-d", Role: "read", Account: "acme", CreatedAt: base},
	}
	for _, k := range keys {
		if err := s.PutAPIKey(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutAPIKey(store.APIKey{ID: "key-x", Hash: "hash-a", Account: "evil"}); err == nil {
		t.Error("a second key with a stored hash was accepted")
	}
	if k, err := s.APIKeyByHash("hash-a"); err != nil || k.ID != "key-a" || k.Account != "acme" {
		t.Errorf("APIKeyByHash = %+v, %v", k, err)
	}
	if _, err := s.APIKeyByHash("hash-none"); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("unknown hash = %v, want ErrKeyNotFound", err)
	}
	ids := func(ks []store.APIKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	if ks, err := s.ListAPIKeys("acme"); err != nil || !slices.Equal(ids(ks), []string{"key-a", "key-d", "key-b"}) {
		t.Errorf("ListAPIKeys(acme) = %v, %v; want oldest first, then by id", ids(ks), err)
	}
	if ks, _ := s.ListAPIKeys(""); len(ks) != 4 {
		t.Errorf("ListAPIKeys(all) = %v", ids(ks))
	}
	if _, err := s.RevokeAPIKey("key-c", "acme", base); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("revoking another account's key = %v, want ErrKeyNotFound", err)
	}
	if _, err := s.RevokeAPIKey("key-none", "", base); !errors.Is(err, store.ErrKeyNotFound) {
		t.Errorf("revoking a missing key = %v, want ErrKeyNotFound", err)
	}
	at := base.Add(2 * time.Hour)
	if k, err := s.RevokeAPIKey("key-a", "acme", at); err != nil || k.RevokedAt == nil || !k.RevokedAt.Equal(at) {
		t.Fatalf("revoke = %+v, %v", k, err)
	}
	if k, err := s.RevokeAPIKey("key-a", "", at.Add(time.Hour)); err != nil || !k.RevokedAt.Equal(at) {
		t.Errorf("second revoke = %+v, %v; want the first time kept", k, err)
	}
	if revoked, err := s.RevokedAPIKeyIDs(); err != nil || !slices.Equal(revoked, []string{"key-a"}) {
		t.Errorf("RevokedAPIKeyIDs = %v, %v", revoked, err)
	}
	used := base.Add(3 * time.Hour)
	if err := s.TouchAPIKeys(map[string]time.Time{"key-b": used, "admin": used}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKeys(map[string]time.Time{"key-b": used.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.APIKeyByHash("hash-b"); k.LastUsedAt == nil || !k.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %v, want %v (an older time is ignored)", k.LastUsedAt, used)
	}
	unchanged(t, s, rev, "API key writes")
}

func testEpoch(t *testing.T, s Store) {
	e := s.Epoch()
	if e == "" {
		t.Fatal("a store has no epoch")
	}
	create(t, s, Cert("acme", "shop", "a"))
	if got := s.Epoch(); got != e {
		t.Errorf("a write changed the epoch from %q to %q", e, got)
	}
}

func testDamaged(t *testing.T, s Store) {
	d, ok := s.(Damager)
	if !ok {
		t.Skip("the store cannot damage a record (no Damager)")
	}
	c := Cert("acme", "shop", "broken")
	create(t, s, c)
	ok1 := Cert("acme", "shop", "fine")
	create(t, s, ok1)
	if err := d.DamageCertificate("acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	rev := revision(t, s)
	damaged := func(what string, got *store.Certificate) {
		t.Helper()
		if got == nil || got.Damaged == "" || got.ID != c.ID || got.Account != "acme" || got.Project != "shop" || got.Name != "broken" ||
			got.State != "" || got.SealedKey != nil || got.ChainPEM != nil {
			t.Errorf("%s = %+v, want a stand-in that names it and holds no state or material", what, got)
		}
	}
	got, err := s.GetCertificate("acme", "shop", c.ID)
	if err != nil {
		t.Fatalf("Get of a damaged record: %v", err)
	}
	damaged("Get", got)
	list, err := s.ListCertificates("acme", "shop", "")
	if err != nil || len(list) != 2 {
		t.Fatalf("List with a damaged record = %d, %v", len(list), err)
	}
	damaged("List", list[0])
	if list[1].ID != ok1.ID || list[1].Damaged != "" {
		t.Errorf("the sound record lists as %+v", list[1])
	}
	snap, _, err := s.Snapshot()
	if err != nil || len(snap) != 2 {
		t.Fatalf("Snapshot with a damaged record = %d, %v", len(snap), err)
	}
	for _, x := range snap {
		if x.ID == c.ID {
			damaged("Snapshot", x)
		}
	}
	res, err := s.ResolveCertificates("acme", "shop", []string{"broken"}, nil)
	if err != nil || len(res) != 1 {
		t.Fatalf("Resolve of a damaged record = %d, %v", len(res), err)
	}
	damaged("Resolve", res[0])
	called := false
	if _, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(*store.Certificate) (string, error) {
		called = true
		return store.ChangeUpdated, nil
	}); !errors.Is(err, store.ErrUndecodable) || called {
		t.Errorf("update of a damaged record = %v (fn called: %v), want ErrUndecodable without calling fn", err, called)
	}
	if _, err := s.CreateCertificate(Cert("acme", "shop", "broken")); !errors.Is(err, store.ErrNameTaken) {
		t.Errorf("create over a damaged record's name = %v, want ErrNameTaken", err)
	}
	unchanged(t, s, rev, "writes refused over a damaged record")
	var checked *store.Certificate
	del, err := s.DeleteCertificate("acme", "shop", c.ID, func(c *store.Certificate) error { checked = c; return nil })
	if err != nil || del.Type != store.ChangeDeleted || del.Before == nil || del.Before.ID != c.ID {
		t.Fatalf("delete of a damaged record = %+v, %v", del, err)
	}
	damaged("the delete check's record", checked)
	create(t, s, Cert("acme", "shop", "broken"))
}
