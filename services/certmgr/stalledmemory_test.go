package certmgr_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

// The child process of TestStalledSubscribersKeepHeapBounded reads these.
const (
	stallAddrEnv    = "CERTBIND_TEST_STALL_ADDR"
	stallStreamsEnv = "CERTBIND_TEST_STALL_STREAMS"
)

// TestStallingClientProcess is the child of
// TestStalledSubscribersKeepHeapBounded: it opens streams that never read,
// each on its own connection with certbind's windows (as an edge dials),
// says "open" once all are sent, and waits to be killed. It is a separate
// process so that what gRPC buffers on the client side is not counted in
// the server's heap.
func TestStallingClientProcess(t *testing.T) {
	addr := os.Getenv(stallAddrEnv)
	if addr == "" {
		t.Skip("run by TestStalledSubscribersKeepHeapBounded")
	}
	n, _ := strconv.Atoi(os.Getenv(stallStreamsEnv))
	for range n {
		conn, err := grpc.NewClient(addr, append(serve.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := certmgrv1.NewDistributionServiceClient(conn).WatchCertificates(as(adminKey), &certmgrv1.WatchCertificatesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		// Headers arrive before any message: the stream is open on the
		// server, and nothing is read from it.
		if _, err := stream.Header(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("open")
	time.Sleep(time.Hour)
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestStalledSubscribersKeepHeapBounded: subscribers that never read, while
// writes go on, cost the server a bounded amount of heap each, however
// much is written: what a stalled stream holds is cut off, not queued.
func TestStalledSubscribersKeepHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a client process and writes 1,000 certificates")
	}
	const streams = 100
	const stall = 2 * time.Second
	s := startServer(t, withLimits(changefeed.Limits{PerKey: streams, Total: streams, PerConn: streams}),
		func(c *certmgr.Config) { c.Stream.Stall = stall })
	// A certificate of about 5 KiB, so that a snapshot of 400 (2 MiB) is
	// larger than a stream's window and gRPC's write quota together: a
	// stalled subscriber stops inside it.
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("host-%02d.a-rather-long-name.shop.example.com", i))
	}
	leaf := testpki.NewCA(t, "Test Root").Issue(t, testpki.Options{CommonName: "big.client", DNSNames: names})
	write := func(prefix string, n int) {
		for i := range n {
			req := &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: fmt.Sprintf("%s%d", prefix, i),
				EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)}
			if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("seed", 400)
	before := heapInuse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStallingClientProcess$", "-test.v")
	child.Env = append(os.Environ(), stallAddrEnv+"="+s.conn.Target(), stallStreamsEnv+"="+strconv.Itoa(streams))
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer cancel()
	buf := make([]byte, 4096)
	if n, err := out.Read(buf); err != nil {
		t.Fatalf("client process: %v (%q)", err, buf[:n])
	}
	time.Sleep(2 * time.Second) // every stream sends until it stalls
	stalled := heapInuse()

	write("live", 400)
	// Every stalled stream is cut off within 1.25 stall of its stall.
	time.Sleep(2 * stall)
	after := heapInuse()
	perStream := func(h uint64) int64 { return (int64(h) - int64(before)) / streams }
	t.Logf("server heap in use: %d KiB before, %d KiB with %d stalled streams (%d KiB each), %d KiB after 400 more writes (%d KiB each)",
		before>>10, stalled>>10, streams, perStream(stalled)>>10, after>>10, perStream(after)>>10)
	// Without the watchdog each stalled stream held its snapshot, about
	// 1,400 KiB here, for as long as its client stayed connected. With it
	// what stays is gRPC's own queue for the stream, its 64 KiB write quota
	// in 4 KiB buffers (about 250 KiB), which it frees only once the client
	// reads or goes.
	if perStream(after) > 768<<10 {
		t.Errorf("stalled streams still hold %d KiB each after their watchdog's limit", perStream(after)>>10)
	}
}
