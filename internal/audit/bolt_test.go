package audit

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openLog(t *testing.T, r Retention) (*bolt.DB, Log) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "audit.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := Log{Bucket: []byte("audit"), Counts: []byte("auditcounts"), Retention: r}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range l.Buckets() {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, l
}

func entry(account, id string, at time.Time) Entry {
	return Entry{Time: at, Actor: ActorOf("admin"), Action: "certificate.create", Result: ResultOK,
		Resource: Resource{Kind: KindCertificate, Account: account, Project: "shop", ID: id}}
}

func list(t *testing.T, db *bolt.DB, l Log, q Query, now time.Time) ([]Entry, string) {
	t.Helper()
	var out []Entry
	var next string
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		out, next, err = l.List(tx, q, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

func TestRetentionDropsOldestBeyondTheCount(t *testing.T) {
	db, l := openLog(t, Retention{PerAccount: 5})
	now := time.Now().UTC()
	for i := range 8 {
		if err := l.Record(db, entry("acme", fmt.Sprintf("crt_%d", i), now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(db, entry("other", "crt_x", now)); err != nil {
		t.Fatal(err)
	}
	got, _ := list(t, db, l, Query{Account: "acme"}, now)
	if len(got) != 5 || got[0].Resource.ID != "crt_7" || got[4].Resource.ID != "crt_3" {
		t.Fatalf("kept %v, want crt_7 down to crt_3", ids(got))
	}
	if other, _ := list(t, db, l, Query{Account: "other"}, now); len(other) != 1 {
		t.Fatalf("other account: %v", ids(other))
	}
}

func TestRetentionDropsEntriesPastTheirAge(t *testing.T) {
	db, l := openLog(t, Retention{MaxAge: time.Hour})
	now := time.Now().UTC()
	for i := range 3 {
		if err := l.Record(db, entry("acme", fmt.Sprintf("crt_old%d", i), now.Add(-2*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := list(t, db, l, Query{Account: "acme"}, now); len(got) != 0 {
		t.Fatalf("entries past their age listed: %v", ids(got))
	}
	if err := l.Record(db, entry("acme", "crt_new", now)); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(l.Bucket).Bucket([]byte("acme")).Stats().KeyN
		return nil
	})
	if n != 1 {
		t.Fatalf("%d entries stored after a write, want the new one only", n)
	}
}

func TestListPagesAndFilters(t *testing.T) {
	db, l := openLog(t, Retention{})
	now := time.Now().UTC()
	for i := range 7 {
		e := entry("acme", fmt.Sprintf("crt_%d", i%2), now)
		if i == 6 {
			e.Action = "certificate.delete"
		}
		if err := l.Record(db, e); err != nil {
			t.Fatal(err)
		}
	}
	var all []Entry
	q := Query{Account: "acme", PageSize: 3}
	for pages := 0; ; pages++ {
		got, next := list(t, db, l, q, now)
		all = append(all, got...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		positions, err := ParsePageToken(next)
		if err != nil {
			t.Fatal(err)
		}
		q.Before = positions[0]
	}
	if len(all) != 7 || all[0].Seq != 7 || all[6].Seq != 1 {
		t.Fatalf("pages gave %d entries, first %d, last %d", len(all), all[0].Seq, all[len(all)-1].Seq)
	}
	if got, _ := list(t, db, l, Query{Account: "acme", ResourceID: "crt_1"}, now); len(got) != 3 {
		t.Errorf("resource filter: %v", ids(got))
	}
	if got, _ := list(t, db, l, Query{Account: "acme", Action: "certificate.delete"}, now); len(got) != 1 || got[0].Seq != 7 {
		t.Errorf("action filter: %v", ids(got))
	}
	if got, _ := list(t, db, l, Query{Account: "acme", Since: now.Add(time.Minute)}, now); len(got) != 0 {
		t.Errorf("since filter: %v", ids(got))
	}
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Resource.ID)
	}
	return out
}
