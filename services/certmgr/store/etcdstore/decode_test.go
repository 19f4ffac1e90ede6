package etcdstore

import (
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// badValues are values a foreign or buggy writer could leave at a
// certificate's key: none of them is that certificate.
var badValues = map[string]string{
	"torn":                  `{"id": "torn`,
	"empty":                 ``,
	"null":                  `null`,
	"empty object":          `{}`,
	"array":                 `[]`,
	"wrong type":            `{"id": 7}`,
	"another certificate":   `{"id":"crt-other","account":"acme","project":"shop","name":"victim"}`,
	"another account":       `{"id":"ID","account":"globex","project":"shop","name":"victim"}`,
	"another project":       `{"id":"ID","account":"acme","project":"other","name":"victim"}`,
	"not UTF-8":             "{\"id\":\"\xff\xfe\"}",
	"trailing data":         `{"id":"ID","account":"acme","project":"shop"} {}`,
	"revision not a number": `{"id":"ID","account":"acme","project":"shop","revision":"x"}`,
}

// TestBadValuesAreDamagedRecords: whatever a certificate's key holds that
// is not that certificate reads as its damaged stand-in, named by its key
// and its name index entry, and the project's other certificates read as
// they are.
func TestBadValuesAreDamagedRecords(t *testing.T) {
	for name, value := range badValues {
		t.Run(name, func(t *testing.T) {
			cli, prefix := testetcd.Client(t)
			s := open(t, cli, prefix)
			victim, fine := storetest.Cert("acme", "shop", "victim"), storetest.Cert("acme", "shop", "fine")
			for _, c := range []*store.Certificate{victim, fine} {
				if _, err := s.CreateCertificate(c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := cli.Put(t.Context(), s.certKey("acme", "shop", victim.ID), strings.ReplaceAll(value, "ID", victim.ID)); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCertificate("acme", "shop", victim.ID)
			if err != nil || got.Damaged == "" || got.ID != victim.ID || got.Name != "victim" || got.State != "" || got.SealedKey != nil {
				t.Errorf("Get = %+v, %v; want the damaged stand-in of %s", got, err, victim.ID)
			}
			list, err := s.ListCertificates("acme", "shop", "")
			if err != nil || len(list) != 2 || list[0].ID != fine.ID || list[0].Damaged != "" || list[1].Damaged == "" {
				t.Errorf("List = %s, %v; want the sound one and the stand-in", describe(list), err)
			}
			snap, _, err := s.Snapshot()
			if err != nil || len(snap) != 2 {
				t.Errorf("Snapshot = %d records, %v; want 2", len(snap), err)
			}
		})
	}
}

// FuzzDecodeCertificate: decoding any key and value never panics, and
// what decodes is the certificate its key names, at the key's revision.
func FuzzDecodeCertificate(f *testing.F) {
	const prefix = "/p/certs/"
	for _, v := range badValues {
		f.Add(prefix+"acme/shop/crt-1", []byte(strings.ReplaceAll(v, "ID", "crt-1")), int64(5))
	}
	f.Add(prefix+"acme/shop/crt-1", []byte(`{"id":"crt-1","account":"acme","project":"shop","name":"a","sealedKey":"AAEC"}`), int64(9))
	f.Add(prefix+"acme/shop", []byte(`{}`), int64(1))
	f.Add(prefix+"acme//crt-1", []byte(`{"id":"crt-1","account":"acme","project":""}`), int64(1))
	f.Add("/other/acme/shop/crt-1", []byte(`{"id":"crt-1","account":"acme","project":"shop"}`), int64(1))
	f.Fuzz(func(t *testing.T, key string, value []byte, rev int64) {
		c, err := decodeCertificate(prefix, &etcdkv.KeyValue{Key: []byte(key), Value: value, ModRevision: rev})
		if err != nil {
			return
		}
		account, project, id, ok := splitKey(prefix, key)
		if !ok || c.ID != id || c.Account != account || c.Project != project || c.Revision != uint64(rev) {
			t.Fatalf("key %q decoded as %s in %s/%s at revision %d", key, c.ID, c.Account, c.Project, c.Revision)
		}
		again, err := encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decodeCertificate(prefix, &etcdkv.KeyValue{Key: []byte(key), Value: []byte(again), ModRevision: rev}); err != nil || back.Name != c.Name {
			t.Fatalf("a decoded record does not decode again: %v", err)
		}
	})
}

func describe(list []*store.Certificate) string {
	var b strings.Builder
	for _, c := range list {
		b.WriteString(c.ID + " " + c.Name + " damaged=" + c.Damaged + "; ")
	}
	return b.String()
}
