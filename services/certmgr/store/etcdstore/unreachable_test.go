package etcdstore

import (
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// TestUnreachableEtcd: with no etcd at the endpoint, opening the store
// fails within its timeout, saying what to check.
func TestUnreachableEtcd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	_, err = Open(cli, Options{Prefix: "/certbind/certmgr/", Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "check that the etcd endpoints are up") || !strings.Contains(err.Error(), "/certbind/certmgr/") {
		t.Errorf("Open with no etcd = %v, want an error that says what to check", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open with no etcd took %v, want about its 300 ms timeout", d)
	}
	if _, err := Open(cli, Options{Prefix: "certbind"}); err == nil || !strings.Contains(err.Error(), `must start and end with "/"`) {
		t.Errorf("Open with a bad prefix = %v", err)
	}
}

// TestKeyPartsAreRefused: a part that would change how a key splits is
// refused before anything is written.
func TestKeyPartsAreRefused(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	s := open(t, cli, prefix)
	for _, c := range []*store.Certificate{
		storetest.Cert("acme", "shop", "a/b"),
		storetest.Cert("acme", "shop/x", "a"),
		storetest.Cert("acme/shop", "x", "a"),
		storetest.Cert("acme", "shop", ""),
	} {
		if _, err := s.CreateCertificate(c); err == nil || !strings.Contains(err.Error(), "cannot be part of a store key") {
			t.Errorf("create of %q in %q/%q = %v, want it refused", c.Name, c.Account, c.Project, err)
		}
	}
	if err := s.PutAPIKey(store.APIKey{ID: "key-1", Hash: "../x", Account: "acme"}); err == nil {
		t.Error("an API key whose hash holds a / was stored")
	}
	all, err := cli.Get(t.Context(), prefix+"certs/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || all.Count != 0 {
		t.Errorf("refused creates left %d records, %v", all.Count, err)
	}
}
