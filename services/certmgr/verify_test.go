package certmgr_test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// editRecords opens the stopped server's bbolt file and lets fn change it.
func editRecords(t *testing.T, s *server, fn func(certs, names *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		fn(tx.Bucket([]byte("certificates")), tx.Bucket([]byte("names")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, s *server, key string) (*certmgrv1.VerifyCertificatesResponse, error) {
	t.Helper()
	return certmgrv1.NewVerifyServiceClient(s.conn).VerifyCertificates(as(key), &certmgrv1.VerifyCertificatesRequest{})
}

// TestVerifyNamesEachDamage damages records of a real bbolt file in
// specific ways and checks that VerifyCertificates names each one, counts
// every record, reports nothing on the sound ones, and changes nothing.
func TestVerifyNamesEachDamage(t *testing.T) {
	s := startServer(t)
	good := create(t, s, "good")
	garbled := create(t, s, "garbled")
	badKey := create(t, s, "badKey")
	swapped := create(t, s, "swapped")

	r, err := verify(t, s, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetFindings()) != 0 || r.GetCertificates() != 4 || r.GetChanges() != 4 {
		t.Fatalf("a sound store: %v", r)
	}

	s.stop()
	garbleRecord(t, s, "acme", garbled.GetId())
	damageSealedKey(t, s, "acme", badKey.GetId())
	other := testpki.NewCA(t, "Other Root").Issue(t, testpki.Options{CommonName: "other.client"})
	editRecords(t, s, func(certs, names *bolt.Bucket) {
		// Another certificate's chain under swapped's key: it decodes and
		// the key unseals, but they do not belong together.
		key := []byte("acme\x00shop\x00" + swapped.GetId())
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(certs.Get(key), &rec); err != nil {
			t.Fatal(err)
		}
		rec["chainPem"], _ = json.Marshal(other.CertPEM)
		v, _ := json.Marshal(rec)
		certs.Put(key, v)
		// A name that points at no record.
		names.Put([]byte("acme\x00shop\x00ghost"), []byte("cert_gone"))
	})
	s.start()
	before := s.revision()

	r, err = verify(t, s, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.GetFindings() {
		got = append(got, f.GetCheck()+" "+f.GetCertificateName()+" "+f.GetSeverity())
		if f.GetCheck() != "name_index_dangling" && f.GetAccount() != "acme" {
			t.Errorf("finding %v does not name its account", f)
		}
		if f.GetCertificateId() == good.GetId() {
			t.Errorf("the sound certificate has a finding: %v", f)
		}
		if f.GetMessage() == "" {
			t.Errorf("finding %v has no message", f)
		}
	}
	sort.Strings(got)
	want := []string{
		"fingerprint_mismatch swapped error",
		"key_does_not_match swapped error",
		"key_does_not_unseal badKey error",
		"name_index_dangling ghost error",
		"undecodable_record garbled error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), r.GetFindings())
	}
	if r.GetCertificates() != 4 {
		t.Fatalf("read %d certificates, want 4", r.GetCertificates())
	}
	if after := s.revision(); after != before {
		t.Fatalf("verify wrote: revision %d -> %d", before, after)
	}

	// Only the admin key may verify.
	acme, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify(t, s, acme)
	wantCode(t, err, codes.PermissionDenied, "admin key")
}
