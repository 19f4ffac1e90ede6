package certmgr_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/seal"
)

// withData starts certmgr in a new dir, uploads a client certificate (so a
// private key is sealed with the master key) and stops it again.
func withData(t *testing.T) *server {
	t.Helper()
	s := startServer(t)
	req, _ := clientUpload(t, "sealed")
	if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	s.stop()
	return s
}

// newMust fails unless New refuses cfg with an error containing every one of
// want.
func newMust(t *testing.T, cfg certmgr.Config, want ...string) {
	t.Helper()
	svc, err := certmgr.New(cfg)
	if err == nil {
		svc.Close()
		t.Fatalf("New accepted the master key; want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New: %v\nwant it to contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("New's error is more than one line: %q", err)
	}
}

func newOK(t *testing.T, cfg certmgr.Config) {
	t.Helper()
	svc, err := certmgr.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}

// replaceKey puts another valid master key where cfg's is.
func replaceKey(t *testing.T, cfg certmgr.Config) {
	t.Helper()
	if err := os.Remove(cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	if err := seal.CreateKeyFile(cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
}

func TestMasterKeyMissingOverDataIsRefused(t *testing.T) {
	for _, create := range []bool{true, false} {
		s := withData(t)
		saved, err := os.ReadFile(s.cfg.MasterKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(s.cfg.MasterKeyFile); err != nil {
			t.Fatal(err)
		}
		cfg := s.cfg
		cfg.CreateMasterKey = create
		newMust(t, cfg, cfg.MasterKeyFile, "restore")
		if _, err := os.Stat(cfg.MasterKeyFile); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("CreateMasterKey=%v: a master key file appears over existing data (stat: %v)", create, err)
		}

		// Restoring the file is all it takes.
		if err := os.WriteFile(cfg.MasterKeyFile, saved, 0o600); err != nil {
			t.Fatal(err)
		}
		s.start()
		list, err := s.certs().ListCertificates(as(adminKey), &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"})
		if err != nil || len(list.GetCertificates()) != 1 {
			t.Fatalf("after restoring the key: %v %v", list, err)
		}
		s.stop()
	}
}

// A store that has been started once holds a check value, so it is not new
// even with no certificate in it.
func TestMasterKeyMissingOverEmptyStartedStoreIsRefused(t *testing.T) {
	s := startServer(t)
	s.stop()
	if err := os.Remove(s.cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	newMust(t, s.cfg, s.cfg.MasterKeyFile, "restore")
	if _, err := os.Stat(s.cfg.MasterKeyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a master key file appears over a started store (stat: %v)", err)
	}
}

func TestMasterKeyWrongIsRefused(t *testing.T) {
	s := withData(t)
	saved, err := os.ReadFile(s.cfg.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	replaceKey(t, s.cfg)
	for _, create := range []bool{true, false} {
		cfg := s.cfg
		cfg.CreateMasterKey = create
		newMust(t, cfg, "master key "+cfg.MasterKeyFile+" does not open this database", "restore the master key file")
	}
	if err := os.WriteFile(s.cfg.MasterKeyFile, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	newOK(t, s.cfg)
}

// An empty store started once is bound to its key too.
func TestMasterKeyWrongOverEmptyStoreIsRefused(t *testing.T) {
	s := startServer(t)
	s.stop()
	replaceKey(t, s.cfg)
	newMust(t, s.cfg, "does not open this database")
}

func TestMasterKeyCreatedForNewDir(t *testing.T) {
	dir := t.TempDir()
	cfg := certmgr.Config{DataDir: filepath.Join(dir, "data"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true}
	newOK(t, cfg)
	if _, err := seal.LoadKeyFile(cfg.MasterKeyFile); err != nil {
		t.Fatalf("no usable master key was created: %v", err)
	}
	newOK(t, cfg)

	// Without CreateMasterKey a new dir needs the file.
	cfg.DataDir, cfg.MasterKeyFile, cfg.CreateMasterKey = filepath.Join(dir, "data2"), filepath.Join(dir, "other.key"), false
	newMust(t, cfg, cfg.MasterKeyFile)
}

// dropKeyCheck removes the check value, making the store look like one
// written before there was one.
func dropKeyCheck(t *testing.T, cfg certmgr.Config) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if meta.Get([]byte("masterKeyCheck")) == nil {
			return errors.New("the store has no check value")
		}
		return meta.Delete([]byte("masterKeyCheck"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store from before the check value is checked against its sealed keys
// before the check value is written.
func TestMasterKeyCheckAddedToOlderStore(t *testing.T) {
	s := withData(t)
	saved, err := os.ReadFile(s.cfg.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	dropKeyCheck(t, s.cfg)
	replaceKey(t, s.cfg)
	newMust(t, s.cfg, "does not open this database")

	// Missing, it is not created: the store holds certificates.
	if err := os.Remove(s.cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	newMust(t, s.cfg, s.cfg.MasterKeyFile, "restore")

	// The right key is accepted and then bound by the check value.
	if err := os.WriteFile(s.cfg.MasterKeyFile, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	newOK(t, s.cfg)
	replaceKey(t, s.cfg)
	newMust(t, s.cfg, "does not open this database")
}
