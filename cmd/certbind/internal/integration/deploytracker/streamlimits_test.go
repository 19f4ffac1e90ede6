package deploytracker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/changefeed"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// startLimited is a pair whose deploytracker enforces l.
func startLimited(t *testing.T, l changefeed.Limits) *pair {
	t.Helper()
	p := startPair(t)
	p.dtCfg.StreamLimits = l
	p.restartDeploytracker(t)
	return p
}

// openOn opens a WatchDeployments stream on conn and waits for its first
// event; it returns the stream's cancel, or the error that ended it.
func openOn(t *testing.T, conn *grpc.ClientConn) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	stream, err := deploytrackerv1.NewDeploymentDistributionServiceClient(conn).WatchDeployments(ctx, &deploytrackerv1.WatchDeploymentsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
	}
	return cancel, err
}

func mustOpenOn(t *testing.T, conn *grpc.ClientConn) context.CancelFunc {
	t.Helper()
	cancel, err := openOn(t, conn)
	if err != nil {
		t.Fatalf("stream refused: %v", err)
	}
	return cancel
}

func wantExhausted(t *testing.T, err error, fragment string) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), fragment) {
		t.Fatalf("got %v, want ResourceExhausted saying %q", err, fragment)
	}
}

// openSoonOn retries until a stream opens on conn: the server notices a
// closed stream asynchronously.
func openSoonOn(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := openOn(t, conn)
		if err == nil {
			return
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("stream still refused after a stream was closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreamLimitPerKey: one key at its limit is refused one more stream
// with a message naming the limit, another key still gets its stream, and
// closing a stream frees its place.
func TestStreamLimitPerKey(t *testing.T) {
	p := startLimited(t, changefeed.Limits{PerKey: 2})
	edge, other := p.apiKey(t, "acme", "edge"), p.apiKey(t, "acme", "edge")
	first := mustOpenOn(t, p.dialDeploytracker(t, edge))
	mustOpenOn(t, p.dialDeploytracker(t, edge))
	_, err := openOn(t, p.dialDeploytracker(t, edge))
	wantExhausted(t, err, "this key already has 2 open streams (the limit per key); close unused edges or raise --max-streams-per-key")
	mustOpenOn(t, p.dialDeploytracker(t, other))
	first()
	openSoonOn(t, p.dialDeploytracker(t, edge))
}

// TestStreamLimitPerConnectionAndTotal: a connection at its limit is
// refused, another connection is not until the total is reached.
func TestStreamLimitPerConnectionAndTotal(t *testing.T) {
	p := startLimited(t, changefeed.Limits{PerConn: 2, Total: 3})
	conn := p.dialDeploytracker(t, adminKey)
	first := mustOpenOn(t, conn)
	mustOpenOn(t, conn)
	_, err := openOn(t, conn)
	wantExhausted(t, err, "this connection already has 2 open streams (the limit per connection)")
	mustOpenOn(t, p.dialDeploytracker(t, p.apiKey(t, "acme", "edge")))
	_, err = openOn(t, p.dialDeploytracker(t, p.apiKey(t, "acme", "edge")))
	wantExhausted(t, err, "the server already has 3 open streams (its limit in total)")
	first()
	openSoonOn(t, conn)
}
