package revlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestGroupIsolatesFailures has 64 writers, a quarter of which fail after
// writing; every successful write must be committed exactly once and every
// failed one not at all, each failure reaching only its own caller.
func TestGroupIsolatesFailures(t *testing.T) {
	db, bucket := openBucket(t)
	g := &Group{DB: db}
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range 64 {
		wg.Go(func() {
			errs[i] = g.Update(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
					return err
				}
				if i%4 == 0 {
					return fmt.Errorf("write %d: %w", i, errBoom)
				}
				return nil
			})
		})
	}
	wg.Wait()
	db.View(func(tx *bolt.Tx) error {
		for i := range 64 {
			v := tx.Bucket(bucket).Get(fmt.Appendf(nil, "k%02d", i))
			switch {
			case i%4 == 0 && (!errors.Is(errs[i], errBoom) || v != nil):
				t.Errorf("write %d should have failed alone: err %v, value %q", i, errs[i], v)
			case i%4 != 0 && (errs[i] != nil || v == nil):
				t.Errorf("write %d should have committed: err %v, value %q", i, errs[i], v)
			}
		}
		if n := tx.Bucket(bucket).Stats().KeyN; n != 48 {
			t.Errorf("%d keys committed, want 48", n)
		}
		return nil
	})
}

// TestGroupSharesCommits holds one write's transaction open while ten more
// arrive: those ten must share the next transaction, and the group must
// count two commits for eleven writes, and busy time of at least the hold
// and at most the time it all took. Writes one after another each commit
// alone.
func TestGroupSharesCommits(t *testing.T) {
	db, bucket := openBucket(t)
	g := &Group{DB: db}
	put := func(key string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), []byte("v")) }
	}

	for i := range 3 {
		if err := g.Update(put(fmt.Sprint("alone", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Stats().Commits; got != 3 {
		t.Fatalf("three writes one after another made %d commits, want 3", got)
	}
	busy0 := g.Stats().Busy

	inTx, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	wg.Go(func() {
		if err := g.Update(func(tx *bolt.Tx) error {
			close(inTx)
			<-release
			return put("first")(tx)
		}); err != nil {
			t.Error(err)
		}
	})
	<-inTx
	held := time.Now()
	for i := range 10 {
		wg.Go(func() {
			if err := g.Update(put(fmt.Sprint("grouped", i))); err != nil {
				t.Error(err)
			}
		})
	}
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == 10 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The first group stays busy at least this long, however fast the
	// machine.
	const hold = 20 * time.Millisecond
	time.Sleep(hold - time.Since(held))
	close(release)
	wg.Wait()
	st := g.Stats()
	if st.Commits != 3+2 {
		t.Errorf("eleven writes, ten of them waiting while the first committed, made %d commits, want 2", st.Commits-3)
	}
	if busy, elapsed := st.Busy-busy0, time.Since(began); busy < hold || busy > elapsed {
		t.Errorf("two groups, one held open %v, kept the group busy %v in %v: want at least the hold and at most the time elapsed", hold, busy, elapsed)
	}
	db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucket).Stats().KeyN; n != 14 {
			t.Errorf("%d keys committed, want 14", n)
		}
		return nil
	})
}

// openBucket opens a fresh database, closed when the test ends, with one
// bucket in it.
func openBucket(t *testing.T) (*bolt.DB, []byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	return db, bucket
}

// TestGroupObservesEachWrite: Observe hears of every write once, failed
// ones included, with at least the time its transaction was held.
func TestGroupObservesEachWrite(t *testing.T) {
	db, bucket := openBucket(t)
	var mu sync.Mutex
	var seen []time.Duration
	g := &Group{DB: db, Observe: func(d time.Duration) {
		mu.Lock()
		seen = append(seen, d)
		mu.Unlock()
	}}
	const hold = 20 * time.Millisecond
	g.Update(func(tx *bolt.Tx) error {
		time.Sleep(hold)
		return tx.Bucket(bucket).Put([]byte("k"), []byte("v"))
	})
	g.Update(func(*bolt.Tx) error { return errors.New("refused") })
	if len(seen) != 2 {
		t.Fatalf("observed %d writes, want 2", len(seen))
	}
	if seen[0] < hold {
		t.Errorf("the first write took %v, observed less than the %v it held its transaction", seen[0], hold)
	}
}
