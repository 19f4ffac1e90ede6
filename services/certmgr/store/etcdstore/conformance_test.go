package etcdstore

import (
	"context"
	"os"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/api"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }

// The store is what a Manager, the key checks and the certificate stream
// need; master key rotation is still to come.
var (
	_ certs.Certificates  = (*Store)(nil)
	_ api.CertificateFeed = (*Store)(nil)
	_ storetest.Feed      = (*Store)(nil)
	_ auth.KeyStore       = (*Store)(nil)
	_ auth.KeyLifecycle   = (*Store)(nil)
)

// damageable is the etcd store with the suite's hook for damaging a record.
type damageable struct{ *Store }

// DamageCertificate overwrites a certificate's record with bytes that do
// not decode, as a foreign or buggy writer would leave it.
func (s damageable) DamageCertificate(account, project, id string) error {
	ck := s.certKey(account, project, id)
	resp, err := s.cli.Txn(context.Background()).
		If(clientv3.Compare(clientv3.CreateRevision(ck), ">", 0)).
		Then(clientv3.OpPut(ck, `{"id": "torn`)).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return store.ErrNotFound
	}
	return nil
}

func open(t *testing.T, cli *clientv3.Client, prefix string) *Store {
	t.Helper()
	s, err := Open(cli, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance holds the etcd store to the rules every backend keeps.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		cli, prefix := testetcd.Client(t)
		return damageable{open(t, cli, prefix)}
	})
}
