package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/changefeed"
)

// writeMix makes n writes of every kind to s and returns their changes.
func writeMix(t *testing.T, s *Store, n int) []Change {
	t.Helper()
	var out []Change
	var live []*Certificate
	for i := 0; len(out) < n; i++ {
		var ch Change
		var err error
		switch {
		case i%4 == 3 && len(live) > 0:
			c := live[0]
			live = live[1:]
			ch, err = s.DeleteCertificate(c.Account, c.Project, c.ID, nil)
		case i%4 == 2 && len(live) > 0:
			c := live[len(live)-1]
			_, ch, err = s.UpdateCertificate(c.Account, c.Project, c.ID, func(c *Certificate) (string, error) {
				c.Version++
				return ChangeRotated, nil
			})
		default:
			c := newCert("acme", "shop", fmt.Sprintf("cert%d", i))
			ch, err = s.CreateCertificate(c)
			live = append(live, c)
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		out = append(out, ch)
	}
	return out
}

func TestRevisionsAndChangelog(t *testing.T) {
	s := openTestStore(t, Options{})
	if rev := mustRevision(t, s); rev != 0 {
		t.Fatalf("new store revision = %d, want 0", rev)
	}
	changes, compacted, head, err := s.ChangesSince(0, 10)
	if err != nil || len(changes) != 0 || compacted != 0 || head != 0 {
		t.Fatalf("empty ChangesSince = %d changes, compacted %d, head %d, %v; want 0, 0, 0", len(changes), compacted, head, err)
	}

	written := writeMix(t, s, 12)
	for i, ch := range written {
		if ch.Revision != uint64(i+1) {
			t.Fatalf("write %d took revision %d, want %d", i, ch.Revision, i+1)
		}
		if ch.After != nil && ch.After.Revision != ch.Revision {
			t.Errorf("change %d: After.Revision = %d", ch.Revision, ch.After.Revision)
		}
	}
	if rev := mustRevision(t, s); rev != 12 {
		t.Errorf("revision = %d, want 12", rev)
	}

	logged := allChanges(t, s)
	if len(logged) != len(written) {
		t.Fatalf("changelog has %d entries, want %d", len(logged), len(written))
	}
	for i := range logged {
		w, l := written[i], logged[i]
		if l.Revision != w.Revision || l.Type != w.Type || l.CertificateID != w.CertificateID ||
			l.Account != w.Account || l.Project != w.Project || !l.At.Equal(w.At) ||
			(l.After == nil) != (w.After == nil) || (l.Before == nil) != (w.Before == nil) {
			t.Errorf("changelog entry %d = %+v, want %+v", i, l, w)
		}
		if we := w.Entry(); !reflect.DeepEqual(l.Before, we.Before) || !reflect.DeepEqual(l.After, we.After) || l.Version != we.Version {
			t.Errorf("changelog entry %d = %+v, want %+v", i, l, we)
		}
	}

	tests := []struct {
		since    uint64
		limit    int
		wantRevs []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{3, 2, []uint64{4, 5}},
		{10, 100, []uint64{11, 12}},
		{11, 1, []uint64{12}},
		{12, 10, nil},
		{50, 10, nil},
		{5, 0, nil},
	}
	for _, tt := range tests {
		changes, compacted, head, err := s.ChangesSince(tt.since, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var revs []uint64
		for _, c := range changes {
			revs = append(revs, c.Revision)
		}
		if !slices.Equal(revs, tt.wantRevs) || compacted != 0 || head != 12 {
			t.Errorf("ChangesSince(%d, %d) = %v, compacted %d, head %d; want %v, 0, 12", tt.since, tt.limit, revs, compacted, head, tt.wantRevs)
		}
	}
}

func TestRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certmgr.db")
	s, err := Open(path, Options{Retention: 5})
	if err != nil {
		t.Fatal(err)
	}
	writeMix(t, s, 20)
	changes, compacted, head, err := s.ChangesSince(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if compacted != 15 || head != 20 || len(changes) != 5 || changes[0].Revision != 16 || changes[4].Revision != 20 {
		t.Errorf("ChangesSince(0) = %d changes from %d, compacted %d, head %d; want 16..20, 15, 20", len(changes), changes[0].Revision, compacted, head)
	}
	changes, compacted, _, _ = s.ChangesSince(17, 100)
	if len(changes) != 3 || changes[0].Revision != 18 || compacted != 15 {
		t.Errorf("ChangesSince(17) = %d changes, compacted %d; want 18..20, 15", len(changes), compacted)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A smaller retention after a restart trims at the next write.
	s = openTestStoreAt(t, path, Options{Retention: 3})
	if _, compacted, _, _ := s.ChangesSince(0, 100); compacted != 15 {
		t.Errorf("compacted after reopen = %d, want 15", compacted)
	}
	mustCreate(t, s, newCert("acme", "shop", "late"))
	changes, compacted, head, _ = s.ChangesSince(0, 100)
	if compacted != 18 || head != 21 || len(changes) != 3 {
		t.Errorf("after a write with retention 3: %d changes, compacted %d, head %d; want 3, 18, 21", len(changes), compacted, head)
	}

	// Retention 1 keeps exactly the newest entry.
	one := openTestStore(t, Options{Retention: 1})
	writeMix(t, one, 4)
	changes, compacted, head, _ = one.ChangesSince(0, 100)
	if len(changes) != 1 || changes[0].Revision != 4 || compacted != 3 || head != 4 {
		t.Errorf("retention 1: %d changes, compacted %d, head %d; want only 4 (compacted 3)", len(changes), compacted, head)
	}
}

func TestSnapshot(t *testing.T) {
	s := openTestStore(t, Options{})
	certs, rev, err := s.Snapshot()
	if err != nil || len(certs) != 0 || rev != 0 {
		t.Fatalf("empty Snapshot = %d certs, rev %d, %v", len(certs), rev, err)
	}
	mustCreate(t, s, newCert("acme", "shop", "a"))
	mustCreate(t, s, newCert("other", "web", "b"))
	c := newCert("acme", "shop2", "c")
	mustCreate(t, s, c)
	mustCreate(t, s, newCert("acme", "shop", "d"))
	if _, err := s.DeleteCertificate("acme", "shop", "cert-doesnotexist", nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	s.UpdateCertificate("acme", "shop2", c.ID, func(c *Certificate) (string, error) { return ChangeUpdated, nil })

	certs, rev, err = s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if rev != 5 || len(certs) != 4 {
		t.Fatalf("Snapshot = %d certs at rev %d, want 4 at 5", len(certs), rev)
	}
	if got := names(certs); !slices.Equal(got, []string{"a", "b", "d", "c"}) {
		t.Errorf("Snapshot order = %q, want by revision: a b d c", got)
	}

	// Under concurrent creates, a snapshot at revision r holds exactly the
	// r certificates created so far.
	s2 := openTestStore(t, Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if _, err := s2.CreateCertificate(newCert("acme", "shop", fmt.Sprintf("n%d", i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		certs, rev, err := s2.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(certs)) != rev {
			t.Fatalf("Snapshot at revision %d holds %d certificates", rev, len(certs))
		}
		for i, c := range certs {
			if c.Revision != uint64(i+1) {
				t.Fatalf("Snapshot at %d: certificate %d has revision %d", rev, i, c.Revision)
			}
		}
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certmgr.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keep := newCert("acme", "shop", "keep")
	gone := newCert("acme", "shop", "gone")
	mustCreate(t, s, keep)
	mustCreate(t, s, gone)
	if _, _, err := s.UpdateCertificate("acme", "shop", keep.ID, func(c *Certificate) (string, error) {
		c.State = StateDisabled
		return ChangeDisabled, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteCertificate("acme", "shop", gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	key := APIKey{ID: "k1", Hash: "h1", Role: "account", Account: "acme", CreatedAt: time.Unix(1700000000, 0).UTC()}
	if err := s.PutAPIKey(key); err != nil {
		t.Fatal(err)
	}
	wantLog := allChanges(t, s)
	wantCert, _ := s.GetCertificate("acme", "shop", keep.ID)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStoreAt(t, path, Options{})
	if rev := mustRevision(t, s); rev != 4 {
		t.Errorf("revision after reopen = %d, want 4", rev)
	}
	if got, err := s.GetCertificate("acme", "shop", keep.ID); err != nil || !reflect.DeepEqual(got, wantCert) {
		t.Errorf("after reopen GetCertificate = %+v, %v; want %+v", got, err, wantCert)
	}
	if _, err := s.GetCertificate("acme", "shop", gone.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted certificate after reopen: %v", err)
	}
	if got := allChanges(t, s); !reflect.DeepEqual(got, wantLog) {
		t.Errorf("changelog after reopen differs:\n%+v\nwant\n%+v", got, wantLog)
	}
	if got, err := s.APIKeyByHash("h1"); err != nil || !reflect.DeepEqual(got, key) {
		t.Errorf("API key after reopen = %+v, %v", got, err)
	}
	if ch := mustCreate(t, s, newCert("acme", "shop", "gone")); ch.Revision != 5 {
		t.Errorf("first write after reopen took revision %d, want 5", ch.Revision)
	}
}

func TestOpenLocked(t *testing.T) {
	s := openTestStore(t, Options{})
	start := time.Now()
	second, err := Open(s.Path(), Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("error %q should say the file %s is locked", err, s.Path())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v despite a 50ms timeout", d)
	}
	// The first one is unaffected.
	mustCreate(t, s, newCert("acme", "shop", "stillWorks"))
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "certmgr.db"), Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestPublisher(t *testing.T) {
	s := openTestStore(t, Options{})
	rec := newRecorder(100)
	s.SetPublisher(rec.publish)

	c := newCert("acme", "shop", "pub")
	var want []Change
	want = append(want, mustCreate(t, s, c))

	// Failed and empty writes publish nothing.
	s.CreateCertificate(newCert("acme", "shop", "pub"))
	s.UpdateCertificate("acme", "shop", "missing", func(*Certificate) (string, error) { return ChangeUpdated, nil })
	s.UpdateCertificate("acme", "shop", c.ID, func(*Certificate) (string, error) { return "", nil })
	s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) { c.Name = "x"; return ChangeUpdated, nil })
	s.UpdateCertificate("acme", "shop", c.ID, func(*Certificate) (string, error) { return ChangeUpdated, errors.New("no") })
	s.DeleteCertificate("acme", "shop", c.ID, func(*Certificate) error { return errors.New("in use") })
	firstPublished := rec.drain()
	if len(firstPublished) != 1 {
		t.Fatalf("published %d changes for one successful write", len(firstPublished))
	}
	if !reflect.DeepEqual(firstPublished[0], want[0].Entry()) {
		t.Errorf("published %+v, want %+v", firstPublished[0], want[0].Entry())
	}

	got, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
		c.EnvironmentTypes = []string{"production"}
		return ChangeUpdated, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	del, err := s.DeleteCertificate("acme", "shop", c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	published := rec.drain()
	if len(published) != 2 || published[0].Revision != 2 || published[1].Revision != 3 ||
		published[0].Type != ChangeUpdated || published[1].Type != ChangeDeleted {
		t.Fatalf("published %+v, want the update at 2 and the delete at 3", published)
	}
	if !reflect.DeepEqual(published[0], ch.Entry()) || !reflect.DeepEqual(published[1], del.Entry()) {
		t.Errorf("published entries differ from those of the returned changes")
	}

	// The published entry is the subscribers': what the caller does with
	// the records it got back must not reach them.
	got.EnvironmentTypes[0] = "mutated"
	ch.After.EnvironmentTypes[0] = "mutated"
	if a := published[0].After; a.EnvironmentTypes[0] != "production" {
		t.Errorf("caller's changes leaked into the published entry: %+v", a)
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := openTestStore(t, Options{})
	const writers, perWriter = 16, 20
	const total = writers * perWriter
	rec := newRecorder(total + 1)
	s.SetPublisher(rec.publish)

	revs := make(chan uint64, total)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var mine *Certificate
			for i := range perWriter {
				var ch Change
				var err error
				switch {
				case i%5 == 4:
					ch, err = s.DeleteCertificate(mine.Account, mine.Project, mine.ID, nil)
					mine = nil
				case mine != nil:
					_, ch, err = s.UpdateCertificate(mine.Account, mine.Project, mine.ID, func(c *Certificate) (string, error) {
						c.Version++
						return ChangeRotated, nil
					})
				default:
					mine = newCert(fmt.Sprintf("acct%d", w%3), "shop", fmt.Sprintf("w%di%d", w, i))
					ch, err = s.CreateCertificate(mine)
				}
				if err != nil {
					t.Errorf("writer %d write %d: %v", w, i, err)
					return
				}
				revs <- ch.Revision
			}
		})
	}
	wg.Wait()
	close(revs)

	assertExactly := func(what string, got []uint64) {
		t.Helper()
		slices.Sort(got)
		if len(got) != total {
			t.Errorf("%s: %d revisions, want %d", what, len(got), total)
			return
		}
		for i, r := range got {
			if r != uint64(i+1) {
				t.Errorf("%s: sorted revision %d is %d: not 1..%d exactly once", what, i, r, total)
				return
			}
		}
	}
	var returned []uint64
	for r := range revs {
		returned = append(returned, r)
	}
	assertExactly("returned", returned)
	var published []uint64
	for _, c := range rec.drain() {
		published = append(published, c.Revision)
	}
	assertExactly("published", published)
	var logged []uint64
	for _, c := range allChanges(t, s) {
		logged = append(logged, c.Revision)
	}
	assertExactly("changelog", logged)
	if rev := mustRevision(t, s); rev != total {
		t.Errorf("revision = %d, want %d", rev, total)
	}
}

func TestAPIKeys(t *testing.T) {
	s := openTestStore(t, Options{})
	admin := APIKey{ID: "k1", Hash: strings.Repeat("a", 64), Role: "admin", CreatedAt: time.Unix(1700000000, 0).UTC()}
	acme := APIKey{ID: "k2", Hash: strings.Repeat("b", 64), Role: "account", Account: "acme", CreatedAt: time.Unix(1700000001, 0).UTC()}
	for _, k := range []APIKey{admin, acme} {
		if err := s.PutAPIKey(k); err != nil {
			t.Fatalf("PutAPIKey(%s): %v", k.ID, err)
		}
	}
	for _, k := range []APIKey{admin, acme} {
		got, err := s.APIKeyByHash(k.Hash)
		if err != nil || !reflect.DeepEqual(got, k) {
			t.Errorf("APIKeyByHash(%s) = %+v, %v; want %+v", k.ID, got, err, k)
		}
	}
	if _, err := s.APIKeyByHash(strings.Repeat("c", 64)); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("unknown hash error = %v, want ErrKeyNotFound", err)
	}
	if err := s.PutAPIKey(APIKey{ID: "k3", Hash: acme.Hash, Role: "admin"}); err == nil {
		t.Error("a second key with the same hash was stored")
	}
	if got, _ := s.APIKeyByHash(acme.Hash); !reflect.DeepEqual(got, acme) {
		t.Errorf("colliding put replaced the key: %+v", got)
	}
	if rev := mustRevision(t, s); rev != 0 {
		t.Errorf("API keys took revisions: revision = %d", rev)
	}
}

// TestChangelogHoldsNoMaterial: an entry names the certificate and where
// it was and is, never its chain or sealed key, so a deleted
// certificate's key is gone from the file with its record.
func TestChangelogHoldsNoMaterial(t *testing.T) {
	s := openTestStore(t, Options{})
	c := newCert("acme", "shop", "gone")
	mustCreate(t, s, c)
	if _, err := s.DeleteCertificate("acme", "shop", c.ID, nil); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChangelog).ForEach(func(k, v []byte) error {
			for _, secret := range [][]byte{c.SealedKey, c.ChainPEM} {
				if bytes.Contains(v, secret) {
					t.Errorf("changelog entry %x holds certificate material: %s", k, v)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOldFormatEntriesAreRead: entries written before Entry, with whole
// records in them, are still read, as the Entry they stand for.
func TestOldFormatEntriesAreRead(t *testing.T) {
	s := openTestStore(t, Options{})
	c := newCert("acme", "shop", "old")
	c.Version = 3
	rev := createLegacy(t, s, c)
	_, upd, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
		c.EnvironmentTypes = []string{"production"}
		return ChangeUpdated, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := allChanges(t, s)
	want := []Entry{
		{Revision: rev, Type: ChangeCreated, CertificateID: c.ID, Account: "acme", Project: "shop", Version: 3,
			After: &changefeed.Place{Account: "acme", Project: "shop", EnvironmentTypes: c.EnvironmentTypes}},
		upd.Entry(),
	}
	if len(got) != 2 {
		t.Fatalf("changelog = %+v, want the old entry and the new one", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Revision != w.Revision || g.Type != w.Type || g.CertificateID != w.CertificateID || g.Account != w.Account || g.Project != w.Project ||
			g.Version != w.Version || !reflect.DeepEqual(g.Before, w.Before) || !reflect.DeepEqual(g.After, w.After) {
			t.Errorf("entry %d = %+v (before %+v, after %+v), want %+v (before %+v, after %+v)", i, g, g.Before, g.After, w, w.Before, w.After)
		}
	}
	if n, bad, err := s.ScanChanges(); err != nil || n != 2 || len(bad) != 0 {
		t.Errorf("ScanChanges = %d, %v, %v; want 2 entries, all decoding", n, bad, err)
	}
}
