package store

import (
	"fmt"
	"testing"

	"github.com/certbind/certbind/internal/revlog"
)

// TestScanCertificatesCrossesBatches: a scan of more records than one read
// transaction reads sees each record exactly once, with its name index
// entry, while a write lands between its transactions.
func TestScanCertificatesCrossesBatches(t *testing.T) {
	s := openTestStore(t, Options{})
	const n = 2*revlog.ScanBatch + 7
	for i := range n {
		if _, err := s.CreateCertificate(newCert("acme", "shop", fmt.Sprintf("c%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	wrote := false
	err := s.ScanCertificates(func(r CertificateRecord) error {
		seen[r.ID]++
		if r.Certificate.Damaged != "" || r.IndexedID != r.ID {
			t.Errorf("record %s: damaged %q, indexed %q", r.ID, r.Certificate.Damaged, r.IndexedID)
		}
		if !wrote {
			// A write during the scan neither fails nor makes the scan
			// skip or repeat a record.
			wrote = true
			if _, err := s.CreateCertificate(newCert("zzz", "shop", "late")); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < n {
		t.Fatalf("scan saw %d records, want at least %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("record %s seen %d times", id, k)
		}
	}
}
