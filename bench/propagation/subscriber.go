package propagation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/certbind/certbind/bench/internal/benchkit"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// streamsPerConn is how many watch streams share one client connection.
// Real edges multiplex too, and 100 is gRPC's default stream limit per
// connection until the server says otherwise.
const streamsPerConn = 100

// fleet is a set of subscribers, each a WatchCertificates stream from
// revision 0, that record when each benchmark change reaches them.
type fleet struct {
	conns   []*grpc.ClientConn
	subs    []*subscriber
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error
	arrived chan int // the index of a change, once per subscriber that got it
}

// subscriber is one stream's record: at[i] is when change i arrived.
// With ordinal, change i is the i-th change the stream carries, whatever
// its revision: on etcd, revisions need not be consecutive.
type subscriber struct {
	at      []time.Time
	ordinal bool
	got     int
}

// attach opens n streams and returns once each has its snapshot. base is
// the revision before the first benchmark change; changes is how many
// follow it. The streams' connections go to servers in turn.
func attach(ctx context.Context, servers []*benchkit.Certmgr, n int, base uint64, changes int, ordinal bool) (*fleet, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &fleet{cancel: cancel, errs: make(chan error, n), arrived: make(chan int, n)}
	ready := make(chan struct{}, n)
	for i := range n {
		if i%streamsPerConn == 0 {
			conn, err := servers[len(f.conns)%len(servers)].Dial()
			if err != nil {
				f.close()
				return nil, err
			}
			f.conns = append(f.conns, conn)
		}
		sub := &subscriber{at: make([]time.Time, changes), ordinal: ordinal}
		f.subs = append(f.subs, sub)
		client := certmgrv1.NewDistributionServiceClient(f.conns[len(f.conns)-1])
		f.wg.Go(func() {
			// run ends only with an error: the stream's, or the context's
			// when the benchmark is over.
			if err := sub.run(ctx, client, base, ready, f.arrived); ctx.Err() == nil {
				f.errs <- fmt.Errorf("subscriber %d: %w", i, err)
			}
		})
	}
	for range n {
		select {
		case <-ready:
		case err := <-f.errs:
			f.close()
			return nil, err
		case <-ctx.Done():
			f.close()
			return nil, ctx.Err()
		}
	}
	return f, nil
}

// await waits until every subscriber has received change i.
func (f *fleet) await(ctx context.Context, i int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for got := 0; got < len(f.subs); got++ {
		select {
		case j := <-f.arrived:
			if j != i {
				return fmt.Errorf("change %d arrived while waiting for change %d", j, i)
			}
		case err := <-f.errs:
			return err
		case <-deadline:
			return fmt.Errorf("change %d reached %d of %d subscribers within %v", i, got, len(f.subs), timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// close ends every stream and connection.
func (f *fleet) close() {
	f.cancel()
	f.wg.Wait()
	for _, c := range f.conns {
		c.Close()
	}
}

// run reads the stream: the snapshot, then changes, skipping heartbeats.
// Change i is the one at revision base+1+i; any other change is an error,
// as the benchmark is the only writer.
func (s *subscriber) run(ctx context.Context, client certmgrv1.DistributionServiceClient, base uint64, ready chan<- struct{}, arrived chan<- int) error {
	stream, err := client.WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("during the snapshot: %w", err)
		}
		if ev.GetSnapshotComplete() != nil {
			break
		}
	}
	ready <- struct{}{}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		ch := ev.GetChange()
		if ch == nil {
			continue
		}
		now := time.Now()
		i := int(ch.GetRevision()) - int(base) - 1
		if s.ordinal {
			i = s.got
			s.got++
		}
		if i < 0 || i >= len(s.at) || !s.at[i].IsZero() {
			return fmt.Errorf("unexpected change at revision %d (benchmark changes are %d to %d)", ch.GetRevision(), base+1, int(base)+len(s.at))
		}
		s.at[i] = now
		arrived <- i
	}
}
