package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func TestKeyCheckIsKeptAndNeverReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certmgr.db")
	s := openTestStoreAt(t, path, Options{})
	if v, err := s.KeyCheck(); err != nil || v != nil {
		t.Fatalf("new store: check value %q, %v; want none", v, err)
	}
	if has, err := s.HasCertificates(); err != nil || has {
		t.Fatalf("new store: HasCertificates %v, %v", has, err)
	}
	rev := mustRevision(t, s)
	if err := s.SetKeyCheck([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyCheck([]byte("second")); !errors.Is(err, ErrKeyCheckExists) {
		t.Fatalf("replacing the check value: got %v, want ErrKeyCheckExists", err)
	}
	if got := mustRevision(t, s); got != rev {
		t.Fatalf("setting the check value moved the revision from %d to %d", rev, got)
	}
	s.Close()

	s = openTestStoreAt(t, path, Options{})
	if v, err := s.KeyCheck(); err != nil || !bytes.Equal(v, []byte("first")) {
		t.Fatalf("after reopening: check value %q, %v; want %q", v, err, "first")
	}
}

func TestForEachSealedKey(t *testing.T) {
	s := openTestStore(t, Options{})
	withKey := mustCreate(t, s, newCert("acme", "shop", "client"))
	ca := newCert("acme", "shop", "root")
	ca.Kind, ca.SealedKey = KindCA, nil
	mustCreate(t, s, ca)
	if has, err := s.HasCertificates(); err != nil || !has {
		t.Fatalf("HasCertificates %v, %v; want true", has, err)
	}
	var seen []string
	if err := s.ForEachSealedKey(func(c *Certificate) error {
		seen = append(seen, c.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != withKey.CertificateID {
		t.Fatalf("ForEachSealedKey saw %v, want only %s", seen, withKey.CertificateID)
	}
	stop := errors.New("stop")
	if err := s.ForEachSealedKey(func(*Certificate) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: got %v", err)
	}
}
