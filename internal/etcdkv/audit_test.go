package etcdkv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/testetcd"
)

func auditEntry(account, id string, at time.Time) audit.Entry {
	return audit.Entry{Time: at, Actor: audit.ActorOf("admin"), Action: "certificate.create", Result: audit.ResultOK,
		Resource: audit.Resource{Kind: audit.KindCertificate, Account: account, Project: "shop", ID: id}}
}

func listAudit(t *testing.T, cli *clientv3.Client, a AuditTrail, q audit.Query, now time.Time) ([]audit.Entry, string) {
	t.Helper()
	out, next, err := a.List(t.Context(), cli, q, now)
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

func auditIDs(es []audit.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Resource.ID)
	}
	return out
}

func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func TestAuditTrailKeepsTheCountPerAccount(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := AuditTrail{Prefix: prefix + "audit/", Retention: audit.Retention{PerAccount: 5}}
	now := time.Now().UTC()
	for i := range 8 {
		if err := a.Record(t.Context(), cli, auditEntry("acme", fmt.Sprintf("crt_%d", i), now.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(t.Context(), cli, auditEntry("other", "crt_x", now)); err != nil {
		t.Fatal(err)
	}
	got, _ := listAudit(t, cli, a, audit.Query{Account: "acme"}, now)
	if len(got) != 5 || got[0].Resource.ID != "crt_7" || got[4].Resource.ID != "crt_3" {
		t.Fatalf("kept %v, want crt_7 down to crt_3", auditIDs(got))
	}
	if n := countKeys(t, cli, a.Prefix+"acme/"); n != 5 {
		t.Fatalf("%d entries stored for acme, want 5", n)
	}
	if other, _ := listAudit(t, cli, a, audit.Query{Account: "other"}, now); len(other) != 1 {
		t.Fatalf("other account: %v", auditIDs(other))
	}
}

// TestAuditTrimByReplicasAtOnce: replicas that trim one account at the
// same time remove the entries beyond the count, and no more.
func TestAuditTrimByReplicasAtOnce(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	loose := AuditTrail{Prefix: prefix + "audit/", Retention: audit.Retention{PerAccount: 1000}}
	now := time.Now().UTC()
	for i := range 40 {
		ops, err := loose.Ops(auditEntry("acme", fmt.Sprintf("crt_%d", i), now.Add(time.Duration(i)*time.Millisecond)), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Txn(t.Context()).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	tight := AuditTrail{Prefix: loose.Prefix, Retention: audit.Retention{PerAccount: 25}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- tight.Trim(context.Background(), cli, "acme") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ := listAudit(t, cli, tight, audit.Query{Account: "acme", PageSize: 100}, now)
	if len(got) != 25 || got[0].Resource.ID != "crt_39" || got[24].Resource.ID != "crt_15" {
		t.Fatalf("kept %v, want crt_39 down to crt_15", auditIDs(got))
	}
}

func TestAuditTrailDropsEntriesPastTheirAge(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := AuditTrail{Prefix: prefix + "audit/", Retention: audit.Retention{MaxAge: time.Hour}}
	now := time.Now().UTC()
	for i := range 3 {
		if err := a.Record(t.Context(), cli, auditEntry("acme", fmt.Sprintf("crt_old%d", i), now.Add(-2*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := listAudit(t, cli, a, audit.Query{Account: "acme"}, now); len(got) != 0 {
		t.Fatalf("entries past their age listed: %v", auditIDs(got))
	}
	if err := a.Record(t.Context(), cli, auditEntry("acme", "crt_new", now)); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, cli, a.Prefix+"acme/"); n != 1 {
		t.Fatalf("%d entries stored after a write, want the new one only", n)
	}
}

func TestAuditTrailPagesAndFilters(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := AuditTrail{Prefix: prefix + "audit/"}
	now := time.Now().UTC()
	for i := range 7 {
		e := auditEntry("acme", fmt.Sprintf("crt_%d", i%2), now)
		if i == 6 {
			e.Action = "certificate.delete"
		}
		ops, err := a.Ops(e, i == 6)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Txn(t.Context()).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var all []audit.Entry
	q := audit.Query{Account: "acme", PageSize: 3}
	for pages := 0; ; pages++ {
		got, next := listAudit(t, cli, a, q, now)
		all = append(all, got...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		positions, err := audit.ParsePageToken(next)
		if err != nil {
			t.Fatal(err)
		}
		q.Before = positions[0]
	}
	if len(all) != 7 {
		t.Fatalf("pages gave %d entries, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq >= all[i-1].Seq {
			t.Fatalf("entries not newest first: seq %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	// The entry of a write carries the write's revision, its own seq;
	// the others none.
	if all[0].Action != "certificate.delete" || all[0].Revision != all[0].Seq || all[1].Revision != 0 {
		t.Errorf("revisions: first %s rev %d seq %d, second rev %d", all[0].Action, all[0].Revision, all[0].Seq, all[1].Revision)
	}
	if got, _ := listAudit(t, cli, a, audit.Query{Account: "acme", ResourceID: "crt_1"}, now); len(got) != 3 {
		t.Errorf("resource filter: %v", auditIDs(got))
	}
	if got, _ := listAudit(t, cli, a, audit.Query{Account: "acme", Action: "certificate.delete"}, now); len(got) != 1 || got[0].Seq != all[0].Seq {
		t.Errorf("action filter: %v", auditIDs(got))
	}
	if got, _ := listAudit(t, cli, a, audit.Query{Account: "acme", Since: now.Add(time.Minute)}, now); len(got) != 0 {
		t.Errorf("since filter: %v", auditIDs(got))
	}
	if got, next := listAudit(t, cli, a, audit.Query{Account: "acme", Before: 1}, now); len(got) != 0 || next != "" {
		t.Errorf("the exhausted position lists %v", auditIDs(got))
	}
	if got, _ := listAudit(t, cli, a, audit.Query{Account: "other"}, now); len(got) != 0 {
		t.Errorf("another account lists %v", auditIDs(got))
	}
}
