package etcdstore

import (
	"context"
	"os"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/deploytracker/api"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
	"github.com/certbind/certbind/services/deploytracker/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }

// The store is what a Tracker needs; its change feed is still to come.
var (
	_ deploy.Deployments = (*Store)(nil)
	_ api.DeploymentFeed = (*Store)(nil)
	_ storetest.Feed     = (*Store)(nil)
)

// damageable is the etcd store with the suite's hook for damaging a record.
type damageable struct{ *Store }

// DamageDeployment overwrites an environment's record with bytes that do
// not decode, as a foreign or buggy writer would leave it.
func (s damageable) DamageDeployment(account, project, env string) error {
	ek := s.envKey(account, project, env)
	resp, err := s.cli.Txn(context.Background()).
		If(clientv3.Compare(clientv3.CreateRevision(ek), ">", 0)).
		Then(clientv3.OpPut(ek, `{"id": "torn`)).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return store.ErrNotFound
	}
	return nil
}

// open opens a store under a prefix of the test's own, on a client of its
// own, closed when the test ends.
func open(t *testing.T, cli *clientv3.Client, prefix string) *Store {
	t.Helper()
	s, err := Open(cli, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestConformance holds the etcd store to the rules every backend keeps.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		cli, prefix := testetcd.Client(t)
		return damageable{open(t, cli, prefix)}
	})
}
