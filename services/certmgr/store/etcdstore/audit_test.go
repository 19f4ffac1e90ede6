package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
)

var _ certs.AuditTrail = (*Store)(nil)

// TestAuditTrailOnEtcd: on etcd, each write a request makes is one audit
// entry written with it, carrying the write's revision; a refused write is
// recorded by itself; and another replica on the same prefix lists the
// same trail, per account.
func TestAuditTrailOnEtcd(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	st := open(t, cli, prefix)
	sealer, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	var refs []certs.Reference
	m := certs.New(certs.Config{Store: st, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return refs, nil })})
	ca := testpki.NewCA(t, "Root")
	leaf := func() material.Input {
		l := ca.Issue(t, testpki.Options{CommonName: "backend"})
		return material.Input{CertificatePEM: l.CertPEM, KeyPEM: l.KeyPEM}
	}
	ctx := context.Background()
	c, err := m.Create(ctx, "acct_key1", certs.CreateInput{Account: "acme", Project: "shop", Name: "audited", EnvironmentTypes: []string{"production"}, Material: leaf()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, "admin", certs.CreateInput{Account: "other", Project: "shop", Name: "elsewhere", EnvironmentTypes: []string{"production"}, Material: leaf()}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Disable(ctx, "acct_key1", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Disable(ctx, "acct_key1", "acme", "shop", c.ID); err != nil { // changes nothing: no entry
		t.Fatal(err)
	}
	if _, err := m.Enable(ctx, "admin", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	rotated, err := m.Rotate(ctx, "admin", "acme", "shop", c.ID, leaf())
	if err != nil {
		t.Fatal(err)
	}
	refs = []certs.Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production"}}
	if _, err := m.Delete(ctx, "admin", "acme", "shop", c.ID); !errors.Is(err, certs.ErrReferenced) {
		t.Fatalf("delete of a referenced certificate = %v, want ErrReferenced", err)
	}
	if err := m.RecordRefused(audit.ActorOf("admin"), "certificate.delete", audit.Resource{Kind: audit.KindCertificate, Account: "acme", Project: "shop", ID: c.ID},
		"FailedPrecondition", "deployments use it"); err != nil {
		t.Fatal(err)
	}

	// A second replica on the prefix reads the same trail.
	other := certs.New(certs.Config{Store: open(t, cli, prefix), Sealer: sealer})
	for _, r := range []*certs.Manager{m, other} {
		entries, next, err := r.ListAudit(audit.Query{Account: "acme"})
		if err != nil || next != "" {
			t.Fatalf("ListAudit: %v %q", err, next)
		}
		var got []string
		for _, e := range slices.Backward(entries) {
			got = append(got, e.Action+" "+e.Actor.KeyID+"/"+e.Actor.Role+" "+e.Result)
			if e.Resource.ID != c.ID || e.Resource.Account != "acme" {
				t.Errorf("entry %+v", e)
			}
			if e.Result == audit.ResultOK && (e.Revision == 0 || e.Resource.Name != "audited") {
				t.Errorf("entry of a write without its revision or name: %+v", e)
			}
		}
		want := []string{
			"certificate.create acct_key1/account ok",
			"certificate.disable acct_key1/account ok",
			"certificate.enable admin/admin ok",
			"certificate.rotate admin/admin ok",
			"certificate.delete admin/admin refused",
		}
		if !slices.Equal(got, want) {
			t.Errorf("entries:\n%q\nwant\n%q", got, want)
		}
		if rot := entries[1]; rot.Revision != rotated.Revision {
			t.Errorf("the rotation's entry has revision %d, the rotation wrote %d", rot.Revision, rotated.Revision)
		}
	}
	if entries, _, err := m.ListAudit(audit.Query{Account: "other"}); err != nil || len(entries) != 1 || entries[0].Resource.Name != "elsewhere" {
		t.Errorf("the other account's trail: %+v, %v", entries, err)
	}
	if entries, _, err := m.ListAudit(audit.Query{Account: "acme", Action: "certificate.rotate"}); err != nil || len(entries) != 1 {
		t.Errorf("action filter: %+v, %v", entries, err)
	}
}
