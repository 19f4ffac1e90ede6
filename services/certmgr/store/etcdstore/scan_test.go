package etcdstore

import (
	"fmt"
	"testing"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// TestScanCertificates: the scan behind the certificate metrics reads
// every certificate of every account across pages, a damaged record as a
// stand-in that names it, and no key that is not a certificate's.
func TestScanCertificates(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	st := damageable{open(t, cli, prefix)}
	want := map[string]bool{}
	n := etcdkv.ScanPage + 3 // more than one page
	for i := range n {
		c := storetest.Cert([]string{"acme", "other"}[i%2], "shop", fmt.Sprintf("cert%d", i))
		if _, err := st.CreateCertificate(c); err != nil {
			t.Fatal(err)
		}
		want[c.ID] = true
	}
	var damagedID string
	for id := range want {
		damagedID = id
		break
	}
	var account string
	if err := st.ScanCertificates(func(r store.CertificateRecord) error {
		if r.ID == damagedID {
			account = r.Account
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.DamageCertificate(account, "shop", damagedID); err != nil {
		t.Fatal(err)
	}
	seen, damaged := 0, 0
	err := st.ScanCertificates(func(r store.CertificateRecord) error {
		if !want[r.ID] || r.Certificate == nil || r.Certificate.ID != r.ID || r.Certificate.Account != r.Account {
			t.Errorf("scanned %s/%s/%s: %+v", r.Account, r.Project, r.ID, r.Certificate)
		}
		seen++
		if r.Certificate.Damaged != "" {
			damaged++
			if r.ID != damagedID {
				t.Errorf("%s read as damaged", r.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n || damaged != 1 {
		t.Errorf("scanned %d certificates, %d damaged; want %d and 1", seen, damaged, n)
	}
}
