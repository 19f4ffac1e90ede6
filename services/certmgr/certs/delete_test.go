package certs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// refsFunc is a References whose answer the test sets.
type refsFunc func() ([]Reference, error)

func (f refsFunc) CertificateReferences(context.Context, string, string, string) ([]Reference, error) {
	return f()
}

func newManager(t *testing.T, refs References) (*Manager, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, seal.KeySize)
	s, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: st, Sealer: s, References: refs}), st
}

func upload(t *testing.T, m *Manager, name string) *store.Certificate {
	t.Helper()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: name})
	c, err := m.Create(context.Background(), "test", CreateInput{Account: "acme", Project: "shop", Name: name, EnvironmentTypes: []string{"production"},
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeleteRefusedRestoresState(t *testing.T) {
	var answer []Reference
	m, st := newManager(t, refsFunc(func() ([]Reference, error) { return answer, nil }))
	c := upload(t, m, "used")
	if _, err := m.Disable(context.Background(), "test", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	answer = []Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production", InProgress: true}}
	_, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID)
	var re *ReferencedError
	if !errors.As(err, &re) || !errors.Is(err, ErrReferenced) || re.Certificate != "used" {
		t.Fatalf("got %v, want a ReferencedError naming the certificate", err)
	}
	got, _ := st.GetCertificate("acme", "shop", c.ID)
	if got.State != store.StateDisabled || got.PrevState != "" {
		t.Fatalf("after a refused delete the state is %q (prev %q), want disabled", got.State, got.PrevState)
	}
	answer = nil
	if _, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetCertificate("acme", "shop", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("not deleted: %v", err)
	}
}

func TestDeleteWithUnreachableTrackerChangesNothing(t *testing.T) {
	m, st := newManager(t, refsFunc(func() ([]Reference, error) { return nil, errors.New("connection refused") }))
	c := upload(t, m, "lonely")
	_, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID)
	if !errors.Is(err, ErrReferencesUnavailable) {
		t.Fatalf("got %v, want ErrReferencesUnavailable", err)
	}
	got, err := st.GetCertificate("acme", "shop", c.ID)
	if err != nil || got.State != store.StateActive {
		t.Fatalf("after a failed check: %v %v", got, err)
	}
}

// TestResumeDeletes plays a crash after step 1: the certificate is left
// deleting. Meanwhile it refuses other changes; ResumeDeletes finishes it.
func TestResumeDeletes(t *testing.T) {
	m, st := newManager(t, NoReferences{})
	free := upload(t, m, "free")
	used := upload(t, m, "used")
	for _, c := range []*store.Certificate{free, used} {
		if _, _, err := st.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
			c.PrevState, c.State = c.State, store.StateDeleting
			return store.ChangeUpdated, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Disable(context.Background(), "test", "acme", "shop", free.ID); !errors.Is(err, ErrDeleting) {
		t.Fatalf("disable while deleting: %v", err)
	}
	if _, err := m.SetEnvironmentTypes(context.Background(), "test", "acme", "shop", free.ID, []string{"preview"}); !errors.Is(err, ErrDeleting) {
		t.Fatalf("update while deleting: %v", err)
	}
	calls := 0
	m.refs = refsFunc(func() ([]Reference, error) {
		calls++
		if calls == 2 { // the second certificate is in use
			return []Reference{{DeploymentID: "dep_1"}}, nil
		}
		return nil, nil
	})
	n, err := m.ResumeDeletes(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("resume: %d %v", n, err)
	}
	left, _, _ := st.Snapshot()
	if len(left) != 1 || left[0].State != store.StateActive {
		t.Fatalf("after resume: %+v, want one active certificate", left)
	}
}

// TestResumeLeavesALiveDelete: on a store of one replica (bbolt), the
// resume loop runs beside live requests. A delete still checking its
// references is not a crash's leftover: the loop must leave it alone, not
// finish or undo it under the request's feet.
func TestResumeLeavesALiveDelete(t *testing.T) {
	checking, release := make(chan struct{}), make(chan struct{})
	calls := 0
	m, st := newManager(t, refsFunc(func() ([]Reference, error) {
		calls++
		if calls == 1 {
			close(checking)
			<-release
			return nil, nil
		}
		return []Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production"}}, nil
	}))
	c := upload(t, m, "going")
	done := make(chan error, 1)
	go func() {
		_, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID)
		done <- err
	}()
	<-checking
	n, err := m.ResumeDeletes(context.Background())
	if err != nil || n != 0 {
		t.Errorf("ResumeDeletes during a live delete = %d, %v; want 0, nil", n, err)
	}
	if _, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID); !errors.Is(err, ErrBusy) {
		t.Errorf("a second delete during the first = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the live delete: %v", err)
	}
	if _, err := st.GetCertificate("acme", "shop", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the live delete finished: %v, want it gone", err)
	}
}
