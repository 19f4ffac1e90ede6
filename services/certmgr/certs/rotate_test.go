package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

func leafInput(t *testing.T, cn string) (material.Input, *testpki.Cert) {
	t.Helper()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: cn})
	return material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}, leaf
}

// TestRotatedKeyIsBoundToItsVersion checks that the new key opens as the new
// version only: the old sealed key, put back on the new record, must not.
func TestRotatedKeyIsBoundToItsVersion(t *testing.T) {
	m, _ := newManager(t, nil)
	v1 := upload(t, m, "bound")
	in, leaf := leafInput(t, "next")
	v2, err := m.Rotate(context.Background(), "test", "acme", "shop", v1.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.PrevState != v1.PrevState || v2.State != v1.State || !v2.CreatedAt.Equal(v1.CreatedAt) {
		t.Fatalf("rotated record %+v", v2)
	}
	key, err := m.PrivateKey(v2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := x509.MarshalPKCS8PrivateKey(leaf.Key)
	if string(key) != string(want) {
		t.Fatal("the key sealed for version 2 is not the new leaf's")
	}
	stale := *v2
	stale.SealedKey = v1.SealedKey
	if _, err := m.PrivateKey(&stale); err == nil {
		t.Fatal("the version 1 sealed key opened as version 2")
	}
	replayed := *v1
	replayed.SealedKey = v2.SealedKey
	if _, err := m.PrivateKey(&replayed); err == nil {
		t.Fatal("the version 2 sealed key opened as version 1")
	}
}

// TestConcurrentRotations checks that racing rotations each get a version of
// their own, and that the key stored last opens as the version stored last.
func TestConcurrentRotations(t *testing.T) {
	m, st := newManager(t, nil)
	c := upload(t, m, "busy")
	const n = 8
	inputs := make([]material.Input, n)
	subjects := map[string]bool{}
	for i := range inputs {
		var leaf *testpki.Cert
		inputs[i], leaf = leafInput(t, fmt.Sprintf("r%d", i))
		subjects[leaf.Cert.Subject.String()] = true
	}
	versions := make(chan int32, n)
	var wg sync.WaitGroup
	for _, in := range inputs {
		wg.Go(func() {
			r, err := m.Rotate(context.Background(), "test", "acme", "shop", c.ID, in)
			if err != nil {
				t.Error(err)
				return
			}
			versions <- r.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int32]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d handed out twice", v)
		}
		seen[v] = true
	}
	got, err := st.GetCertificate("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != n+1 || !subjects[got.Subject] {
		t.Fatalf("after %d rotations: version %d, subject %s", n, got.Version, got.Subject)
	}
	if _, err := m.PrivateKey(got); err != nil {
		t.Fatalf("last rotation's key: %v", err)
	}
}

func TestRotateRefusedWhileDeleting(t *testing.T) {
	m, st := newManager(t, nil)
	c := upload(t, m, "leaving")
	if _, _, err := st.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.PrevState, c.State = c.State, store.StateDeleting
		return store.ChangeUpdated, nil
	}); err != nil {
		t.Fatal(err)
	}
	rev, _ := st.Revision()
	in, _ := leafInput(t, "late")
	if _, err := m.Rotate(context.Background(), "test", "acme", "shop", c.ID, in); !errors.Is(err, ErrDeleting) {
		t.Fatalf("got %v, want ErrDeleting", err)
	}
	if after, _ := st.Revision(); after != rev {
		t.Fatalf("revision moved from %d to %d", rev, after)
	}
}
