package certs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// refsByID is a References that answers per certificate id.
type refsByID map[string][]Reference

func (r refsByID) CertificateReferences(_ context.Context, _, _, id string) ([]Reference, error) {
	return r[id], nil
}

func uploadTyped(t *testing.T, m *Manager, name string, types ...string) *store.Certificate {
	t.Helper()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: name})
	c, err := m.Create(context.Background(), "test", CreateInput{Account: "acme", Project: "shop", Name: name, EnvironmentTypes: types,
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRemoveTypeMarksBeforeAsking checks the order of the protocol: when
// the deploytracker is asked, the removal is already durable and the type
// is no longer offered to deploys; a refused removal clears the mark and
// changes nothing else.
func TestRemoveTypeMarksBeforeAsking(t *testing.T) {
	var st *store.Store
	var id string
	var answer []Reference
	var askErr error
	m, st := newManager(t, refsFunc(func() ([]Reference, error) {
		c, err := st.GetCertificate("acme", "shop", id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.RemovingTypes, []string{"production"}) || slices.Contains(DeployableTypes(c), "production") {
			t.Errorf("asked for references before the removal was marked: %+v", c)
		}
		return answer, askErr
	}))
	id = uploadTyped(t, m, "both", "development", "production").ID
	ctx := context.Background()

	answer = []Reference{{DeploymentID: "dep_1", Environment: "prod", EnvironmentType: "production", InProgress: true},
		{DeploymentID: "dep_2", Environment: "dev", EnvironmentType: "development"}}
	_, err := m.SetEnvironmentTypes(ctx, "test", "acme", "shop", id, []string{"development"})
	var re *ReferencedError
	if !errors.As(err, &re) || re.Certificate != "both" || len(re.References) != 1 || re.References[0].DeploymentID != "dep_1" {
		t.Fatalf("got %v, want a ReferencedError naming dep_1 only", err)
	}
	assertTypes(t, st, id, "development", "production")

	answer, askErr = nil, errors.New("connection refused")
	if _, err := m.SetEnvironmentTypes(ctx, "test", "acme", "shop", id, []string{"development"}); !errors.Is(err, ErrReferencesUnavailable) {
		t.Fatalf("got %v, want ErrReferencesUnavailable", err)
	}
	assertTypes(t, st, id, "development", "production")

	// Only a development deployment: production can go, and preview is
	// added in the same request.
	answer, askErr = []Reference{{DeploymentID: "dep_2", Environment: "dev", EnvironmentType: "development"}}, nil
	c, err := m.SetEnvironmentTypes(ctx, "test", "acme", "shop", id, []string{"development", "preview"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.EnvironmentTypes, []string{"development", "preview"}) || c.RemovingTypes != nil {
		t.Fatalf("after the removal: %v (removing %v)", c.EnvironmentTypes, c.RemovingTypes)
	}
	assertTypes(t, st, id, "development", "preview")
}

// TestResumeRemovals plays a crash after step 1 of a removal: the
// certificates are left marked. Meanwhile deploys are not offered the type
// and another removal waits; ResumeDeletes commits each removal that no
// deployment of the type blocks and puts the others back.
func TestResumeRemovals(t *testing.T) {
	refs := refsByID{}
	m, st := newManager(t, refs)
	free := uploadTyped(t, m, "free", "development", "production")
	used := uploadTyped(t, m, "used", "development", "production")
	devOnly := uploadTyped(t, m, "devOnly", "development", "production")
	for _, c := range []*store.Certificate{free, used, devOnly} {
		if _, _, err := st.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
			c.RemovingTypes = []string{"production"}
			return store.ChangeUpdated, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := st.GetCertificate("acme", "shop", free.ID)
	if d := DeployableTypes(got); !slices.Equal(d, []string{"development"}) {
		t.Fatalf("deployable types during the removal: %v, want [development]", d)
	}
	if !slices.Equal(got.EnvironmentTypes, []string{"development", "production"}) {
		t.Fatalf("the mark changed the visible types: %v", got.EnvironmentTypes)
	}
	if _, err := m.SetEnvironmentTypes(context.Background(), "test", "acme", "shop", free.ID, []string{"production"}); !errors.Is(err, ErrTypesChanging) {
		t.Fatalf("a second removal during the first: %v, want ErrTypesChanging", err)
	}

	refs[used.ID] = []Reference{{DeploymentID: "dep_1", Environment: "prod", EnvironmentType: "production"}}
	refs[devOnly.ID] = []Reference{{DeploymentID: "dep_2", Environment: "dev", EnvironmentType: "development"}}
	n, err := m.ResumeDeletes(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("resume: %d %v, want 3", n, err)
	}
	assertTypes(t, st, free.ID, "development")
	assertTypes(t, st, used.ID, "development", "production")
	assertTypes(t, st, devOnly.ID, "development")

	// Nothing is left to resume.
	if n, err := m.ResumeDeletes(context.Background()); err != nil || n != 0 {
		t.Fatalf("second resume: %d %v, want 0", n, err)
	}
}

// assertTypes checks a certificate's stored types and that no removal is
// marked on it.
func assertTypes(t *testing.T, st *store.Store, id string, want ...string) {
	t.Helper()
	c, err := st.GetCertificate("acme", "shop", id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.EnvironmentTypes, want) || c.RemovingTypes != nil {
		t.Fatalf("%s: types %v, removing %v; want %v and no removal in progress", c.Name, c.EnvironmentTypes, c.RemovingTypes, want)
	}
}
