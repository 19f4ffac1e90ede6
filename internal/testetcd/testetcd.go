// Package testetcd runs one embedded etcd member per test binary, on
// loopback, for the tests of the etcd store backends. The member starts
// when a test first asks for it and stops when the binary's tests end:
//
//	func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		cli, prefix := testetcd.Client(t)
//		// every key the test writes lives under prefix
//	}
//
// Each test gets a prefix of its own, so tests share the member without
// seeing each other's keys. The member is real etcd (its gRPC API, its
// MVCC revisions, its transactions); it runs without fsync, which only
// matters if the machine loses power, to keep test runs short.
//
// Only tests and tools import this package: a service binary carries the
// etcd client, never the server.
package testetcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

var (
	mu       sync.Mutex
	member   *embed.Etcd
	dir      string
	endpoint string
	started  time.Duration
	startErr error
	prefixes atomic.Uint64
)

// Main runs the tests of m and then stops the member if a test started it.
// Use it from TestMain; it returns the exit code.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if member != nil {
		// Close stops serving clients, then the raft node, then closes
		// the backend; the data directory can go only after that.
		member.Close()
		os.RemoveAll(dir)
		member = nil
	}
	return code
}

// Endpoint returns the client URL of the binary's member, starting it on
// first use. A member that cannot start fails the test.
func Endpoint(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if member == nil && startErr == nil {
		begin := time.Now()
		member, dir, endpoint, startErr = start()
		started = time.Since(begin)
		if startErr == nil {
			t.Logf("embedded etcd %s started in %v", endpoint, started.Round(time.Millisecond))
		}
	}
	if startErr != nil {
		t.Fatalf("start an embedded etcd member: %v", startErr)
	}
	return endpoint
}

// NewClient returns a new client of the binary's member, with a connection
// of its own (as another replica of a service would have), closed when the
// test ends.
func NewClient(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{Endpoint(t)},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("connect to the embedded etcd member: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Client returns a new client of the binary's member and a key prefix no
// other test of the binary uses.
func Client(t testing.TB) (*clientv3.Client, string) {
	t.Helper()
	return NewClient(t), Prefix(t)
}

// Prefix returns a key prefix no other call in this binary returns: it
// names the test, for whoever looks at the member's keys.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("/certbind-test/%d-%s/", prefixes.Add(1), name)
}

// start starts a single-member cluster on two free loopback ports. The
// ports are found by listening on port 0 and closing the listener, so
// another process can take one in between; start then tries again.
func start() (*embed.Etcd, string, string, error) {
	var lastErr error
	for range 3 {
		d, err := os.MkdirTemp("", "testetcd-")
		if err != nil {
			return nil, "", "", err
		}
		e, ep, err := startIn(d)
		if err == nil {
			return e, d, ep, nil
		}
		os.RemoveAll(d)
		lastErr = err
	}
	return nil, "", "", lastErr
}

func startIn(d string) (*embed.Etcd, string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = d
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true
	cfg.TickMs, cfg.ElectionMs = 10, 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(20 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("the member was not ready after 20 s")
	}
	// A first write proves the member has a leader and serves.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Put(ctx, "/certbind-test/ready", "1")
		cancel()
		cli.Close()
	}
	if err != nil {
		e.Close()
		return nil, "", fmt.Errorf("the member does not serve: %w", err)
	}
	return e, clientURL.String(), nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
