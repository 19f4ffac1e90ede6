package etcdstore

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// refsFunc is a certs.References whose answer the test sets.
type refsFunc func() ([]certs.Reference, error)

func (f refsFunc) CertificateReferences(context.Context, string, string, string) ([]certs.Reference, error) {
	return f()
}

// TestManagerOnEtcd runs certmgr's rules on the etcd store with a real
// certificate and key: etcd holds the key only sealed with the master key,
// and the delete protocol (mark, check, delete or restore) works on it.
func TestManagerOnEtcd(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	st := open(t, cli, prefix)
	sealer, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	var refs []certs.Reference
	m := certs.New(certs.Config{Store: st, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return refs, nil })})
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "backend"})
	c, err := m.Create(context.Background(), "test", certs.CreateInput{Account: "acme", Project: "shop", Name: "backendCert", EnvironmentTypes: []string{"production"},
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}

	block, _ := pem.Decode(leaf.KeyPEM)
	all, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	for _, kv := range all.Kvs {
		if bytes.Contains(kv.Value, block.Bytes) || bytes.Contains(kv.Value, []byte("PRIVATE KEY")) || bytes.Contains(kv.Value, leaf.KeyPEM) {
			t.Errorf("etcd key %s holds the private key in the clear", kv.Key)
		}
		if string(kv.Key) == st.certKey("acme", "shop", c.ID) {
			got, err := st.decode(kv)
			if err != nil {
				t.Fatal(err)
			}
			sealed = got.SealedKey
		}
	}
	if len(sealed) == 0 || seal.KeyID(sealed) != sealer.ID() {
		t.Fatalf("the record's sealed key is %d bytes sealed with %q, want it sealed with the master key %q", len(sealed), seal.KeyID(sealed), sealer.ID())
	}

	refs = []certs.Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production"}}
	if _, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID); !errors.Is(err, certs.ErrReferenced) {
		t.Fatalf("delete of a referenced certificate = %v, want ErrReferenced", err)
	}
	if got, err := m.Get("acme", "shop", c.ID); err != nil || got.State != store.StateActive {
		t.Fatalf("after a refused delete: %+v, %v; want it active again", got.State, err)
	}
	// A delete a crash left marked is finished by the resume loop, which
	// finds it in a snapshot of the store.
	if _, _, err := st.UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
		c.PrevState, c.State = c.State, store.StateDeleting
		return store.ChangeUpdated, nil
	}); err != nil {
		t.Fatal(err)
	}
	refs = nil
	if n, err := m.ResumeDeletes(context.Background()); err != nil || n != 1 {
		t.Fatalf("ResumeDeletes = %d, %v; want the marked delete finished", n, err)
	}
	if _, err := m.Get("acme", "shop", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after the resumed delete = %v, want ErrNotFound", err)
	}
}
