package certmgr_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/changefeed"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

// openStream opens a WatchCertificates stream on conn with key and waits
// for its first event. It returns the stream's cancel and the error that
// ended it instead, if any.
func openStream(t *testing.T, conn *grpc.ClientConn, key string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(as(key), time.Minute)
	t.Cleanup(cancel)
	stream, err := certmgrv1.NewDistributionServiceClient(conn).WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
	}
	return cancel, err
}

func mustOpen(t *testing.T, conn *grpc.ClientConn, key string) context.CancelFunc {
	t.Helper()
	cancel, err := openStream(t, conn, key)
	if err != nil {
		t.Fatalf("stream refused: %v", err)
	}
	return cancel
}

// openSoon retries until a stream opens, for a place freed by a stream the
// client closed: the server notices the close asynchronously.
func openSoon(t *testing.T, conn *grpc.ClientConn, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := openStream(t, conn, key)
		if err == nil {
			return
		}
		if statusCode(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("stream still refused after a stream was closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newConn(t *testing.T, s *server) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(s.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func edgeKeys(t *testing.T, s *server, n int) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		k, err := createKey(s, "acme", "edge")
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

func withLimits(l changefeed.Limits) func(*certmgr.Config) {
	return func(c *certmgr.Config) { c.StreamLimits = l }
}

// TestStreamLimitPerKey: a key at its limit is refused one more stream,
// saying which limit and what to do, while another key still gets one; a
// closed stream frees its place.
func TestStreamLimitPerKey(t *testing.T) {
	s := startServer(t, withLimits(changefeed.Limits{PerKey: 3}))
	keys := edgeKeys(t, s, 2)
	var first context.CancelFunc
	for i := range 3 {
		cancel := mustOpen(t, s.conn, keys[0])
		if i == 0 {
			first = cancel
		}
	}
	_, err := openStream(t, s.conn, keys[0])
	wantCode(t, err, codes.ResourceExhausted, "this key already has 3 open streams (the limit per key); close unused edges or raise --max-streams-per-key")
	mustOpen(t, s.conn, keys[1])
	first()
	openSoon(t, s.conn, keys[0])
}

// TestStreamLimitPerConnection: a connection at its limit is refused one
// more stream whatever the key, while another connection gets one.
func TestStreamLimitPerConnection(t *testing.T) {
	s := startServer(t, withLimits(changefeed.Limits{PerConn: 2}))
	keys := edgeKeys(t, s, 3)
	conn := newConn(t, s)
	first := mustOpen(t, conn, keys[0])
	mustOpen(t, conn, keys[1])
	_, err := openStream(t, conn, keys[2])
	wantCode(t, err, codes.ResourceExhausted, "this connection already has 2 open streams (the limit per connection)")
	mustOpen(t, newConn(t, s), keys[2])
	first()
	openSoon(t, conn, keys[2])
}

// TestStreamLimitTotal: the server at its limit refuses every key and
// connection until a stream closes.
func TestStreamLimitTotal(t *testing.T) {
	s := startServer(t, withLimits(changefeed.Limits{Total: 3}))
	keys := edgeKeys(t, s, 4)
	first := mustOpen(t, newConn(t, s), keys[0])
	mustOpen(t, newConn(t, s), keys[1])
	mustOpen(t, newConn(t, s), keys[2])
	_, err := openStream(t, newConn(t, s), keys[3])
	wantCode(t, err, codes.ResourceExhausted, "the server already has 3 open streams (its limit in total)")
	first()
	openSoon(t, newConn(t, s), keys[3])
}
