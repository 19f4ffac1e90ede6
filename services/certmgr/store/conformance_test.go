package store_test

import (
	"path/filepath"
	"testing"

	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// bboltStore is the bbolt store with the suite's hook for damaging a record.
type bboltStore struct{ *store.Store }

func (s bboltStore) DamageCertificate(account, project, id string) error {
	return store.DamageCertificate(s.Store, account, project, id)
}

// TestConformance holds the bbolt store to the rules every backend keeps.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := store.Open(filepath.Join(t.TempDir(), "certmgr.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return bboltStore{s}
	})
}
