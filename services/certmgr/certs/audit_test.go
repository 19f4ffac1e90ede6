package certs

import (
	"context"
	"slices"
	"testing"

	"github.com/certbind/certbind/internal/audit"
)

// Each write a request makes is one entry, in the write's transaction; the
// steps of the delete and removal protocols (marks, put-backs) are none.
func TestEveryWriteHasOneAuditEntry(t *testing.T) {
	var answer []Reference
	m, _ := newManager(t, refsFunc(func() ([]Reference, error) { return answer, nil }))
	c := upload(t, m, "audited")
	ctx := context.Background()
	if _, err := m.Disable(ctx, "acct_key1", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Disable(ctx, "acct_key1", "acme", "shop", c.ID); err != nil { // changes nothing: no entry
		t.Fatal(err)
	}
	if _, err := m.Enable(ctx, "admin", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	in, _ := leafInput(t, "audited")
	if _, err := m.Rotate(ctx, "admin", "acme", "shop", c.ID, in); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetEnvironmentTypes(ctx, "admin", "acme", "shop", c.ID, []string{"production", "preview"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetEnvironmentTypes(ctx, "admin", "acme", "shop", c.ID, []string{"preview"}); err != nil {
		t.Fatal(err)
	}
	answer = []Reference{{DeploymentID: "dep_1", Environment: "prod", EnvironmentType: "preview"}}
	if _, err := m.Delete(ctx, "admin", "acme", "shop", c.ID); err == nil {
		t.Fatal("delete of a referenced certificate succeeded")
	}
	answer = nil
	if _, err := m.Delete(ctx, "admin", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	entries, next, err := m.ListAudit(audit.Query{Account: "acme"})
	if err != nil || next != "" {
		t.Fatal(err, next)
	}
	var got []string
	for _, e := range slices.Backward(entries) {
		got = append(got, e.Action+" "+e.Actor.KeyID+"/"+e.Actor.Role)
		if e.Resource.ID != c.ID || e.Resource.Name != "audited" || e.Result != audit.ResultOK || e.Revision == 0 {
			t.Errorf("entry %+v", e)
		}
	}
	want := []string{
		"certificate.create test/account",
		"certificate.disable acct_key1/account",
		"certificate.enable admin/admin",
		"certificate.rotate admin/admin",
		"certificate.update admin/admin",
		"certificate.update admin/admin",
		"certificate.delete admin/admin",
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries:\n%q\nwant\n%q", got, want)
	}
}
