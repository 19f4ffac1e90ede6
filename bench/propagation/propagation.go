// Package propagation measures how fast certmgr's distribution stream
// carries a certificate change to many subscribers, and what an idle
// subscriber costs in memory.
//
// Run starts certmgr in-process (a real bbolt store in the work directory,
// real gRPC on 127.0.0.1) and attaches real WatchCertificates streams with
// the admin key, streamsPerConn of them sharing each client connection as
// an edge's streams would. Clients and server share the process, so the
// plain heap figure is for both ends; the server's part is found by
// allocation site in a memory profile taken while subscribers attach.
package propagation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// Config configures Run.
type Config struct {
	// Subscribers is how many streams watch. Default 1000.
	Subscribers int
	// Changes is how many writes are timed, creates and rotations in turn.
	// Default 50.
	Changes int
	// Smoke runs 20 subscribers and 3 changes, whatever the fields above say.
	Smoke bool
	// WorkDir holds certmgr's data. Empty means a temporary directory,
	// removed afterwards.
	WorkDir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result is what Run measured.
type Result struct {
	Subscribers, Changes int
	// Conns is how many client connections carry the streams.
	Conns int
	// P50, P99 and Max are over every (change, subscriber) delay, from the
	// write's acknowledgement to the subscriber's receipt.
	P50, P99, Max time.Duration
	// ChangeP50, ChangeP99 and ChangeMax are over each change's propagation
	// time: the delay to the last subscriber to receive it.
	ChangeP50, ChangeP99, ChangeMax time.Duration
	// Early counts receipts that came before the writer had its
	// acknowledgement; they count as a delay of 0.
	Early int
	// SentP50, SentP99 and SentMax are over every (change, subscriber)
	// delay from when the write was sent: they include the commit and its
	// fsync, and never count a receipt as early.
	SentP50, SentP99, SentMax time.Duration
	// BytesPerIdleSubscriber is the live heap added per attached, idle
	// subscriber, for server and client together (they share the process).
	BytesPerIdleSubscriber float64
	// ServerBytesPerIdleSubscriber is the server's part of it: certmgr's and
	// the gRPC server's allocations.
	ServerBytesPerIdleSubscriber float64
	// StackBytesPerIdleSubscriber is the goroutine stack added per
	// subscriber, server and client together.
	StackBytesPerIdleSubscriber float64
	// HeapBefore and HeapAfter are the live heap before the subscribers
	// attach and once they all are idle.
	HeapBefore, HeapAfter uint64
}

// awaitTimeout bounds the wait for one change to reach every subscriber.
const awaitTimeout = 30 * time.Second

// Run starts certmgr, attaches the subscribers, measures their memory, then
// times the changes one at a time, each reaching every subscriber before
// the next is written.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	n, m := cfg.Subscribers, cfg.Changes
	if n <= 0 {
		n = 1000
	}
	if m <= 0 {
		m = 50
	}
	if cfg.Smoke {
		n, m = 20, 3
	}
	log := benchkit.Logger(cfg.Log)
	// certmgr runs in this process; it gets the garbage collector target
	// its mains give it.
	defer serve.TuneGC()()
	dir, done, err := benchkit.WorkDir(cfg.WorkDir, "propagation-")
	if err != nil {
		return nil, err
	}
	defer done()

	// Three leaves: one for the seed and every create, two for rotations
	// in turn, so that each rotation changes the material.
	leaves, err := issue(3)
	if err != nil {
		return nil, err
	}
	srv, err := benchkit.StartCertmgr(dir)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	conn, err := srv.Dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := certmgrv1.NewCertificateServiceClient(conn)
	seed, err := certs.CreateCertificate(ctx, createRequest("seed", leaves[0]))
	if err != nil {
		return nil, fmt.Errorf("create the seed certificate: %w", err)
	}
	base, err := srv.Revision()
	if err != nil {
		return nil, err
	}

	res := &Result{Subscribers: n, Changes: m, Conns: (n + streamsPerConn - 1) / streamsPerConn}
	log.Info("attaching subscribers", slog.Int("subscribers", n), slog.Int("conns", res.Conns))
	f, before, after, err := attachMeasured(ctx, srv, n, base, m)
	if err != nil {
		return nil, err
	}
	defer f.close()
	res.HeapBefore, res.HeapAfter = before.heap, after.heap
	res.BytesPerIdleSubscriber = perSubscriber(before.heap, after.heap, n)
	res.ServerBytesPerIdleSubscriber = perSubscriber(before.sides["server"], after.sides["server"], n)
	res.StackBytesPerIdleSubscriber = perSubscriber(before.stacks, after.stacks, n)
	log.Info("subscribers idle",
		slog.Float64("heapPerSubscriber", res.BytesPerIdleSubscriber),
		slog.Float64("serverHeapPerSubscriber", res.ServerBytesPerIdleSubscriber),
		slog.Float64("clientHeapPerSubscriber", perSubscriber(before.sides["client"], after.sides["client"], n)),
		slog.Float64("unattributedHeapPerSubscriber", perSubscriber(before.sides[""], after.sides[""], n)),
		slog.Float64("stackPerSubscriber", res.StackBytesPerIdleSubscriber))

	if err := res.change(ctx, f, certs, seed.GetCertificate().GetId(), leaves); err != nil {
		return nil, err
	}
	log.Info("changes propagated", slog.Int("changes", m), slog.Duration("p99", res.P99), slog.Duration("changeMax", res.ChangeMax))
	return res, nil
}

// RunReplicas measures propagation through several certmgr replicas of one
// store (on etcd): the subscribers' connections go to the replicas in turn
// and every change is written through the first. It measures no memory.
func RunReplicas(ctx context.Context, cfg Config, replicas []*benchkit.Certmgr) (*Result, error) {
	n, m := cfg.Subscribers, cfg.Changes
	if n <= 0 {
		n = 1000
	}
	if m <= 0 {
		m = 50
	}
	if cfg.Smoke {
		n, m = 20, 3
	}
	log := benchkit.Logger(cfg.Log)
	leaves, err := issue(3)
	if err != nil {
		return nil, err
	}
	conn, err := replicas[0].Dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := certmgrv1.NewCertificateServiceClient(conn)
	seed, err := certs.CreateCertificate(ctx, createRequest("seed", leaves[0]))
	if err != nil {
		return nil, fmt.Errorf("create the seed certificate: %w", err)
	}
	res := &Result{Subscribers: n, Changes: m, Conns: (n + streamsPerConn - 1) / streamsPerConn}
	log.Info("attaching subscribers", slog.Int("subscribers", n), slog.Int("conns", res.Conns), slog.Int("replicas", len(replicas)))
	// The seed may still be on its way to another replica's feed: a
	// subscriber that attached there before it would count it as the
	// first change. So every replica is first seen to have it.
	seedRev, err := replicas[0].Revision()
	if err != nil {
		return nil, err
	}
	for i, r := range replicas {
		if err := awaitRevision(ctx, r, seedRev); err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
	}
	f, err := attach(ctx, replicas, n, 0, m, true)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := res.change(ctx, f, certs, seed.GetCertificate().GetId(), leaves); err != nil {
		return nil, err
	}
	log.Info("changes propagated", slog.Int("changes", m), slog.Duration("p99", res.P99), slog.Duration("changeMax", res.ChangeMax))
	return res, nil
}

// awaitRevision waits until r has caught up with revision rev.
func awaitRevision(ctx context.Context, r *benchkit.Certmgr, rev uint64) error {
	deadline := time.Now().Add(awaitTimeout)
	for {
		got, err := r.Revision()
		if err != nil {
			return err
		}
		if got >= rev {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("at revision %d after %v, not %d", got, awaitTimeout, rev)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// change writes res.Changes changes through certs, creates and rotations
// of seed in turn, each reaching every subscriber of f before the next,
// and summarizes their delays into res.
func (res *Result) change(ctx context.Context, f *fleet, certs certmgrv1.CertificateServiceClient, seed string, leaves []*testpki.Cert) error {
	m := res.Changes
	sent, acked := make([]time.Time, m), make([]time.Time, m)
	for i := range m {
		var err error
		sent[i] = time.Now()
		if i%2 == 0 {
			_, err = certs.CreateCertificate(ctx, createRequest(fmt.Sprintf("created%d", i), leaves[0]))
		} else {
			_, err = certs.RotateCertificate(ctx, rotateRequest(seed, leaves[1+i/2%2]))
		}
		acked[i] = time.Now()
		if err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		if err := f.await(ctx, i, awaitTimeout); err != nil {
			return err
		}
	}
	res.summarize(f, sent, acked)
	return nil
}

// attachMeasured attaches the fleet between two memory measurements, with
// every allocation profiled so that the server's part can be told apart.
func attachMeasured(ctx context.Context, srv *benchkit.Certmgr, n int, base uint64, changes int) (f *fleet, before, after memory, err error) {
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = rate }()
	before = measure()
	f, err = attach(ctx, []*benchkit.Certmgr{srv}, n, base, changes, false)
	if err != nil {
		return nil, before, after, err
	}
	// A subscriber is ready when it reads SnapshotComplete, a moment before
	// its handler reaches its idle wait.
	time.Sleep(100 * time.Millisecond)
	return f, before, measure(), nil
}

func perSubscriber(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

// summarize fills in the delays from the times each write was sent and
// acknowledged, and the subscribers' receipts.
func (r *Result) summarize(f *fleet, sent, acked []time.Time) {
	var all, last, fromSent []time.Duration
	for i, t0 := range acked {
		var worst time.Duration
		for _, s := range f.subs {
			fromSent = append(fromSent, s.at[i].Sub(sent[i]))
			d := s.at[i].Sub(t0)
			if d < 0 {
				r.Early++
				d = 0
			}
			all = append(all, d)
			worst = max(worst, d)
		}
		last = append(last, worst)
	}
	q := benchkit.Quantiles(all, 0.5, 0.99, 1)
	r.P50, r.P99, r.Max = q[0], q[1], q[2]
	q = benchkit.Quantiles(last, 0.5, 0.99, 1)
	r.ChangeP50, r.ChangeP99, r.ChangeMax = q[0], q[1], q[2]
	q = benchkit.Quantiles(fromSent, 0.5, 0.99, 1)
	r.SentP50, r.SentP99, r.SentMax = q[0], q[1], q[2]
}
