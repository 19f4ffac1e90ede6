package webhook

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store/etcdstore"
)

func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// etcdReplicas starts n dispatchers on one etcd prefix, each with a
// client and a certmgr store of its own, as n replicas have, and a
// receiver on loopback that counts requests by delivery id.
type etcdReplicas struct {
	d   []*Dispatcher
	cli []*clientv3.Client
	clk *testClock

	mu  sync.Mutex
	got map[string]int
	url string
}

func startReplicas(t *testing.T, n int, mutate func(*Config)) *etcdReplicas {
	t.Helper()
	r := &etcdReplicas{clk: &testClock{t: time.Now()}, got: map[string]int{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.got[req.Header.Get(HeaderID)]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	pol, err := egress.NewPolicy(egress.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	prefix := testetcd.Prefix(t)
	for range n {
		cli := testetcd.NewClient(t)
		st, err := etcdstore.Open(cli, etcdstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Etcd: cli, EtcdPrefix: prefix, Source: st, Sealer: sealer, Policy: pol, RootCAs: roots, Now: r.clk.now}
		if mutate != nil {
			mutate(&cfg)
		}
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			d.Close()
			st.Close()
		})
		r.d, r.cli = append(r.d, d), append(r.cli, cli)
	}
	return r
}

func (r *etcdReplicas) requests() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

func refused(n int) RefusedDeploy {
	return RefusedDeploy{Account: "acme", Project: "shop", Environment: fmt.Sprintf("env%d", n),
		CertificateID: "crt_1", CertificateName: "backendCert", Reason: "the certificate is disabled"}
}

// A leader whose lease was revoked (cut off from etcd for longer than
// its TTL) records neither a claim nor an outcome, even before it knows;
// the replica elected next leaves the delivery it had claimed until the
// claim runs out, then sends it, with the same id, once.
func TestDeposedLeaderRecordsNothing(t *testing.T) {
	r := startReplicas(t, 2, nil)
	d1, d2 := r.d[0], r.d[1]
	if _, _, err := d1.Create(CreateRequest{Account: "acme", Name: "refusals", URL: r.url}); err != nil {
		t.Fatal(err)
	}
	// The API works on a replica that does not lead.
	if err := d2.DeployRefused(refused(1)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	batch := deposedLeader(t, r)
	dels, err := d2.Deliveries("acme", "refusals", 10)
	if err != nil || len(dels) != 2 {
		t.Fatalf("deliveries %v %v", dels, err)
	}
	first := dels[1]
	if first.ID != batch[0].del.ID || first.State != StateSending || first.Attempts != 1 || dels[0].State != StatePending || dels[0].Attempts != 0 {
		t.Fatalf("the deposed leader changed the log: %+v", dels)
	}

	// Replica 2 leads now; the first delivery stays claimed until its
	// claim runs out.
	if err := d2.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if !d2.Leads() {
		t.Fatal("replica 2 does not lead")
	}
	if got := r.requests(); len(got) != 1 || got[dels[0].ID] != 1 {
		t.Fatalf("receiver got %v, want only %s", got, dels[0].ID)
	}
	r.clk.advance(3 * time.Minute)
	if err := d2.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.requests(); len(got) != 2 || got[first.ID] != 1 || got[dels[0].ID] != 1 {
		t.Fatalf("receiver got %v, want each delivery once", got)
	}
}

// deposedLeader has replica 1 lead and claim the one delivery due, then
// revokes its lease, and checks that it records nothing more: neither
// the outcome of the claimed delivery nor a claim of the next, queued
// meanwhile by replica 2.
func deposedLeader(t *testing.T, r *etcdReplicas) []claimed {
	t.Helper()
	ctx := context.Background()
	d1 := r.d[0]
	d1.mu.Lock()
	defer d1.mu.Unlock()
	if err := d1.lead(ctx); err != nil {
		t.Fatal(err)
	}
	batch, _, err := d1.claim(nil)
	if err != nil || len(batch) != 1 {
		t.Fatalf("claim: %d %v", len(batch), err)
	}
	if _, err := r.cli[1].Revoke(ctx, d1.leader.session.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := d1.finish(batch[0].del, http.StatusNoContent, "", nil); !errors.Is(err, errNotLeader) {
		t.Errorf("a deposed leader recorded an outcome: %v", err)
	}
	if err := r.d[1].DeployRefused(refused(2)); err != nil {
		t.Fatal(err)
	}
	if b, _, err := d1.claim(nil); !errors.Is(err, errNotLeader) {
		t.Errorf("a deposed leader claimed %d deliveries: %v", len(b), err)
	}
	return batch
}

// Writes of the API race on two replicas: the account's bound on
// webhooks holds, and every delivery gets a sequence number of its own,
// as each write that loses to another runs again on what is stored.
func TestConcurrentWritesAcrossReplicas(t *testing.T) {
	r := startReplicas(t, 2, func(cfg *Config) { cfg.MaxHooks = 5 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	made, tooMany := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := r.d[i%2].Create(CreateRequest{Account: "acme", Name: fmt.Sprintf("hook%d", i), URL: r.url})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				made++
			case errors.Is(err, ErrTooMany):
				tooMany++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	hooks, err := r.d[1].List("acme")
	if err != nil || made != 5 || tooMany != 11 || len(hooks) != 5 {
		t.Fatalf("%d created, %d refused, %d listed (%v); want 5, 11, 5", made, tooMany, len(hooks), err)
	}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.d[i%2].DeployRefused(refused(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, h := range hooks {
		dels, err := r.d[0].Deliveries("acme", h.ID, 100)
		if err != nil || len(dels) != 10 {
			t.Fatalf("webhook %s has %d deliveries (%v), want 10", h.Name, len(dels), err)
		}
		for _, del := range dels {
			if seen[del.ID] {
				t.Fatalf("delivery id %s given twice", del.ID)
			}
			seen[del.ID] = true
		}
	}
}
