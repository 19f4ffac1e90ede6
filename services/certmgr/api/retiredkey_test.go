package api

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// TestMaterialOfARecordReadBeforeItsKeyRetired: a stream read a record
// sealed under the previous master key, and before it opened the key a
// rotation re-sealed the record and retired that key from the ring (on
// etcd every replica does, once the store records the end). The material
// is built from the record as it is now, not sent as damaged.
func TestMaterialOfARecordReadBeforeItsKeyRetired(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "certmgr.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring, err := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	m := certs.New(certs.Config{Store: st, Sealer: ring, Now: time.Now})
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "backend"})
	c, err := m.Create(context.Background(), "test", certs.CreateInput{Account: "acme", Project: "shop", Name: "backendCert", EnvironmentTypes: []string{"production"},
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := st.GetCertificate("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	old := ring.ID()
	next, err := seal.New(bytes.Repeat([]byte{2}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ring.Add(next)
	if err := ring.SetPrimary(next.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.RewrapCertificates(nil, 10, m.Rewrap); err != nil {
		t.Fatal(err)
	}
	if err := ring.Remove(old); err != nil {
		t.Fatal(err)
	}
	codec := certCodec{m: m, store: st, damaged: &damageLog{log: slog.New(slog.DiscardHandler)}}
	mat := codec.material(stale)
	if d := mat.GetCertificate().GetDamaged(); d != "" || len(mat.GetPrivateKeyPkcs8()) == 0 {
		t.Fatalf("material of a record read before its key retired: damaged %q", d)
	}
}
