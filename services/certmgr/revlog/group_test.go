package revlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupIsolatesFailures has 64 writers, a quarter of which fail after
// writing; every successful write must be committed exactly once and every
// failed one not at all, each failure reaching only its own caller.
func TestGroupIsolatesFailures(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
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
