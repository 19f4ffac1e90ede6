package edgewatch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// follow starts a certificate follower on addr into a new state store.
func follow(t *testing.T, addr string) *state.Store {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: adminKey}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	st := state.NewStore()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go watch.NewCertificates(conn, st, watch.Scope{}, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx)
	return st
}

// TestCertificatesDamagedHeldWithoutMaterial: a certificate whose sealed
// key no longer unseals in certmgr reaches a new edge as a certificate
// without material that says why, beside a usable one; an edge that
// already holds a usable version keeps it through a change; a rotation
// gives both edges usable material again.
func TestCertificatesDamagedHeldWithoutMaterial(t *testing.T) {
	dir := t.TempDir()
	addr, stop := certmgrOn(t, dir, "", 0)
	certs := client(t, addr)
	ca := testpki.NewCA(t, "Root")
	good := upload(t, certs, "good", ca.Issue(t, testpki.Options{CommonName: "good"}))
	bad := upload(t, certs, "bad", ca.Issue(t, testpki.Options{CommonName: "bad-v1"}))
	old := follow(t, addr)
	until(t, old, "both usable", func(s *state.Snapshot) bool {
		return len(s.Certificates) == 2 && s.Certificate(bad) != nil && s.Certificate(bad).TLS != nil
	})

	stop()
	db, err := bolt.Open(filepath.Join(dir, "data", "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("certificates"))
		k := []byte("acme\x00shop\x00" + bad)
		var rec map[string]any
		if err := json.Unmarshal(b.Get(k), &rec); err != nil {
			return err
		}
		rec["sealedKey"] = "AAAA" + rec["sealedKey"].(string)[4:]
		v, _ := json.Marshal(rec)
		return b.Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	addr, _ = certmgrOn(t, dir, addr, 0)
	certs = client(t, addr)

	fresh := follow(t, addr)
	until(t, fresh, "the snapshot", func(s *state.Snapshot) bool { return len(s.Certificates) == 2 })
	c := fresh.Load().Certificate(bad)
	if c.TLS != nil || c.UnavailableReason != "damaged" || !strings.HasPrefix(c.Unavailable, "damaged in certmgr: ") || !strings.Contains(c.Unavailable, "does not unseal") || c.Name != "bad" {
		t.Fatalf("the damaged certificate on a new edge: %+v", c)
	}
	if g := fresh.Load().Certificate(good); g.TLS == nil || g.Unavailable != "" {
		t.Fatalf("the good certificate on a new edge: %+v", g)
	}

	// A change to it arrives without material: the old edge keeps the
	// version it holds.
	if _, err := certs.DisableCertificate(admin(), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: bad}); err != nil {
		t.Fatal(err)
	}
	until(t, fresh, "the disable", func(s *state.Snapshot) bool { return s.Certificate(bad).State == "disabled" })
	if c := old.Load().Certificate(bad); c.TLS == nil || c.Unavailable != "" {
		t.Fatalf("the edge that held a usable version lost it: %+v", c)
	}

	v2 := ca.Issue(t, testpki.Options{CommonName: "bad-v2"})
	if _, err := certs.RotateCertificate(admin(), &certmgrv1.RotateCertificateRequest{Account: "acme", Project: "shop", Id: bad,
		CertificatePem: string(v2.CertPEM), PrivateKeyPem: string(v2.KeyPEM)}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*state.Store{old, fresh} {
		until(t, st, "the repaired version", func(s *state.Snapshot) bool {
			c := s.Certificate(bad)
			return c.TLS != nil && c.Unavailable == "" && c.TLS.Leaf.Subject.CommonName == "bad-v2"
		})
	}
}
