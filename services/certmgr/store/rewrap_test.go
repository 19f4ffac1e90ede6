package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// toNew is a Rewrap that treats a sealed key starting "sealed:" as sealed
// under the old key and re-seals it as "new:"; "damaged" ones fail.
func toNew(c *Certificate) (bool, error) {
	switch {
	case bytes.HasPrefix(c.SealedKey, []byte("damaged")):
		return false, errors.New("does not open")
	case bytes.HasPrefix(c.SealedKey, []byte("sealed:")):
		c.SealedKey = append([]byte("new:"), c.SealedKey[len("sealed:"):]...)
		return true, nil
	}
	return false, nil
}

// walkAll re-seals every record and changelog entry in batches of n.
func walkAll(t *testing.T, s *Store, n int) RewrapStats {
	t.Helper()
	var total RewrapStats
	var after []byte
	for {
		next, st, err := s.RewrapCertificates(after, n, toNew)
		if err != nil {
			t.Fatal(err)
		}
		total.Rewrapped += st.Rewrapped
		total.Failed += st.Failed
		if next == nil {
			break
		}
		after = next
	}
	var rev uint64
	for {
		last, done, st, err := s.RewrapChangelog(rev, n, toNew)
		if err != nil {
			t.Fatal(err)
		}
		total.Rewrapped += st.Rewrapped
		total.Failed += st.Failed
		if done {
			return total
		}
		rev = last
	}
}

// stale counts sealed keys that toNew would still change, in records and
// changelog.
func stale(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	list, _, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if bytes.HasPrefix(c.SealedKey, []byte("sealed:")) {
			n++
		}
	}
	for _, c := range legacyRecords(t, s) {
		if bytes.HasPrefix(c.SealedKey, []byte("sealed:")) {
			n++
		}
	}
	return n
}

func TestRewrapKeepsRevisionsAndLogsNothing(t *testing.T) {
	s := openTestStore(t, Options{})
	rec := newRecorder(100)
	s.SetPublisher(rec.publish)
	for i := range 7 {
		c := newCert("acme", "shop", fmt.Sprintf("c%d", i))
		if i == 3 {
			c.SealedKey = []byte("damaged")
		}
		// Entries of the old format hold the records, keys included; a
		// rotation re-wraps those too.
		createLegacy(t, s, c)
	}
	mustCreate(t, s, newCert("acme", "shop", "new"))
	rec.drain()
	rev := mustRevision(t, s)
	st := walkAll(t, s, 2)
	// 7 records and the 6 old changelog entries that hold them (the new
	// one holds none); the damaged key, in its record and its entry, is
	// left as it was.
	if st.Rewrapped != 13 || st.Failed != 2 {
		t.Fatalf("walk: %+v, want 13 re-sealed and 2 failed", st)
	}
	if n := stale(t, s); n != 0 {
		t.Fatalf("%d sealed keys left under the old key", n)
	}
	if got := mustRevision(t, s); got != rev {
		t.Fatalf("re-sealing moved the revision from %d to %d", rev, got)
	}
	if got := rec.drain(); len(got) != 0 {
		t.Fatalf("re-sealing published %d changes", len(got))
	}
	list, _, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Revision == 0 || c.Revision > rev {
			t.Fatalf("%s has revision %d after re-sealing", c.Name, c.Revision)
		}
	}
	// A second walk has nothing to do and writes nothing.
	tx := txID(t, s)
	if st := walkAll(t, s, 2); st.Rewrapped != 0 {
		t.Fatalf("second walk re-sealed %d", st.Rewrapped)
	}
	if txID(t, s) != tx {
		t.Fatal("a walk with nothing to re-seal committed a transaction")
	}
}

func TestBeginKeyRotation(t *testing.T) {
	s := openTestStore(t, Options{})
	same := func(v []byte) func([]byte) bool { return func(r []byte) bool { return bytes.Equal(r, v) } }
	if err := s.BeginKeyRotation([]byte("k2"), same([]byte("k2"))); err == nil || !strings.Contains(err.Error(), "no master key check value") {
		t.Fatalf("rotation of a store without a check value: %v", err)
	}
	if err := s.SetKeyCheck([]byte("k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginKeyRotation([]byte("k2"), same([]byte("k2"))); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginKeyRotation([]byte("k2"), same([]byte("k2"))); err != nil {
		t.Fatalf("beginning the same rotation again: %v", err)
	}
	if err := s.BeginKeyRotation([]byte("k3"), same([]byte("k3"))); !errors.Is(err, ErrRotationInProgress) {
		t.Fatalf("beginning a rotation to another key: %v, want ErrRotationInProgress", err)
	}
	if next, err := s.KeyNext(); err != nil || string(next) != "k2" {
		t.Fatalf("KeyNext = %q, %v", next, err)
	}
}

// TestFinishKeyRotationChecksLateWrites: a value sealed with the old key
// and written after the walk started keeps the rotation open, as does a
// changelog trimmed past the walk's start; the next walk and finish end it.
func TestFinishKeyRotationChecksLateWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certmgr.db")
	s := openTestStoreAt(t, path, Options{Retention: 4})
	for i := range 3 {
		mustCreate(t, s, newCert("acme", "shop", fmt.Sprintf("c%d", i)))
	}
	if err := s.SetKeyCheck([]byte("k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginKeyRotation([]byte("k2"), func([]byte) bool { return false }); err != nil {
		t.Fatal(err)
	}
	since := mustRevision(t, s)
	walkAll(t, s, 2)
	// A write that sealed with the old key before the switch commits now.
	mustCreate(t, s, newCert("acme", "shop", "late"))
	if done, err := s.FinishKeyRotation(since, toNew); err != nil || done {
		t.Fatalf("finish with a late old-key write: %v, %v; want not done", done, err)
	}
	if check, _ := s.KeyCheck(); string(check) != "k1" {
		t.Fatalf("an unfinished rotation replaced the check value with %q", check)
	}

	// Enough writes (new-key ones) to trim the changelog past since.
	since = mustRevision(t, s)
	walkAll(t, s, 2)
	for i := range 5 {
		c := newCert("acme", "shop", fmt.Sprintf("n%d", i))
		c.SealedKey = []byte("new:" + c.Name)
		mustCreate(t, s, c)
	}
	if done, err := s.FinishKeyRotation(since-1, toNew); err != nil || done {
		t.Fatalf("finish with the changelog trimmed past the walk's start: %v, %v; want not done", done, err)
	}
	if done, err := s.FinishKeyRotation(since, toNew); err != nil || done {
		t.Fatalf("finish with the changelog trimmed past the walk's start: %v, %v; want not done", done, err)
	}

	since = mustRevision(t, s)
	walkAll(t, s, 2)
	if done, err := s.FinishKeyRotation(since, toNew); err != nil || !done {
		t.Fatalf("finish after a clean walk: %v, %v; want done", done, err)
	}
	check, _ := s.KeyCheck()
	next, _ := s.KeyNext()
	if string(check) != "k2" || next != nil {
		t.Fatalf("after the rotation: check %q, next %q; want k2 and none", check, next)
	}
	if done, err := s.FinishKeyRotation(since, toNew); err != nil || !done {
		t.Fatalf("finishing again: %v, %v", done, err)
	}
	if n := stale(t, s); n != 0 {
		t.Fatalf("%d sealed keys left under the old key", n)
	}
	s.Close()
	checkConsistency(t, path)
}
