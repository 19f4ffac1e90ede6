package certs

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// TestVerifyReportsUnfinishedWork: a delete or a removal of environment
// types left marked (as a crash leaves them) is a warning, and a sound CA
// bundle and client certificate have no finding.
func TestVerifyReportsUnfinishedWork(t *testing.T) {
	m, st := newManager(t, nil)
	deleting := upload(t, m, "deleting")
	removing := uploadTyped(t, m, "removing", "development", "production")
	upload(t, m, "sound")
	ca := testpki.NewCA(t, "Backend Root")
	if _, err := m.Create(context.Background(), "test", CreateInput{Account: "acme", Project: "shop", Name: "backendCa", EnvironmentTypes: []string{"production"}, CA: true,
		Material: material.Input{CertificatePEM: ca.CertPEM}}); err != nil {
		t.Fatal(err)
	}
	mark := func(id string, fn func(c *store.Certificate)) {
		if _, _, err := st.UpdateCertificate("acme", "shop", id, func(c *store.Certificate) (string, error) {
			fn(c)
			return store.ChangeUpdated, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	mark(deleting.ID, func(c *store.Certificate) { c.PrevState, c.State = c.State, store.StateDeleting })
	mark(removing.ID, func(c *store.Certificate) { c.RemovingTypes = []string{"production"} })

	r, err := m.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Check+" "+f.Name+" "+f.Severity)
	}
	sort.Strings(got)
	want := "delete_in_progress deleting warning\nenvironment_type_removal_in_progress removing warning"
	if strings.Join(got, "\n") != want {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if r.Certificates != 4 || r.Changes != 6 {
		t.Fatalf("counts: %d certificates, %d changes; want 4 and 6", r.Certificates, r.Changes)
	}
}
