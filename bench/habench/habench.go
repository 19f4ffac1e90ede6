// Package habench measures certbind's control plane on a 3-member etcd
// cluster of real etcd processes on loopback, beside the same measurements
// on bbolt: certificate creates per second through certmgr's API at 1 and
// 32 clients, how long writes fail after the etcd leader is killed with
// SIGKILL, and propagation of changes to subscribers spread over two
// certmgr replicas. It also notes what a replica's watch cache holds in
// memory per 1,000 certificates and the size of etcd's database.
//
// certmgr replicas run in this process (each with its own etcd client and
// gRPC server on 127.0.0.1); etcd runs as its own processes, with fsync as
// in production. Without an etcd binary the section is skipped, saying so.
package habench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/bench/propagation"
	"github.com/certbind/certbind/internal/etcdproc"
	"github.com/certbind/certbind/internal/serve"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// Config configures Run.
type Config struct {
	// Etcd is the etcd binary; empty looks for ./.bin/etcd, then etcd on
	// PATH.
	Etcd string
	// Duration is how long each creates row runs. Default 3s.
	Duration time.Duration
	// Kills is how many times the leader is killed. Default 3.
	Kills int
	// Subscribers and Changes size the propagation run. Default 1000, 50.
	Subscribers, Changes int
	// Smoke runs each part for a moment: 300ms rows, one kill, 20
	// subscribers and 3 changes.
	Smoke bool
	// WorkDir holds the members' data and logs and bbolt's stores. Empty
	// means a temporary directory, removed afterwards.
	WorkDir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result is what Run measured.
type Result struct {
	// Skipped says why nothing was measured (no etcd binary); empty when
	// the section ran.
	Skipped string
	Etcd    string
	Rows    []Row
	Kills   []Kill
	// Propagation is over two replicas on etcd; BoltPropagation over one
	// certmgr on bbolt, with the same subscribers and changes.
	Propagation, BoltPropagation *propagation.Result
	// CacheCerts certificates held by a replica's watch cache took
	// CacheBytes of live heap once it had started.
	CacheCerts int
	CacheBytes int64
	// DBSize is etcd's database size at the end, with DBCerts
	// certificates stored.
	DBSize  int64
	DBCerts int
}

// Row is one concurrency's creates through certmgr's API, on etcd and on
// bbolt.
type Row struct {
	Clients    int
	Etcd, Bolt Rate
}

// Rate is one run's throughput and latency.
type Rate struct {
	Creates  int
	PerSec   float64
	P50, P99 time.Duration
}

// Kill is one leader kill: Unavailable is from the SIGKILL to the first
// create that was sent after it and succeeded; Failed counts the creates
// that failed meanwhile.
type Kill struct {
	Unavailable time.Duration
	Failed      int
	created     int
}

// Run measures the HA section, or returns a Result that says it was
// skipped.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	bin := etcdproc.FindBinary(cfg.Etcd)
	if bin == "" {
		return &Result{Skipped: "no etcd binary (./.bin/etcd or etcd on PATH); `make etcd` builds the pinned release"}, nil
	}
	d, kills, subs, changes := cfg.Duration, cfg.Kills, cfg.Subscribers, cfg.Changes
	if d <= 0 {
		d = 3 * time.Second
	}
	if kills <= 0 {
		kills = 3
	}
	if cfg.Smoke {
		d, kills, subs, changes = 300*time.Millisecond, 1, 20, 3
	}
	log := benchkit.Logger(cfg.Log)
	defer serve.TuneGC()()
	dir, done, err := benchkit.WorkDir(cfg.WorkDir, "habench-")
	if err != nil {
		return nil, err
	}
	defer done()
	tmpl, err := upload()
	if err != nil {
		return nil, err
	}
	c, err := etcdproc.Start(ctx, bin, filepath.Join(dir, "etcd"), "certbind-bench", 3)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	res := &Result{Etcd: bin}
	log.Info("etcd cluster up", slog.Any("endpoints", c.Endpoints()))
	h := &harness{c: c, dir: dir, keyFile: filepath.Join(dir, "master.key"), adminKey: rand.Text() + rand.Text(), tmpl: tmpl}
	defer h.close()

	for i, n := range []int{1, 32} {
		row := Row{Clients: n}
		prefix := fmt.Sprintf("/bench/creates-%d/", n)
		if row.Etcd, err = h.creates(ctx, prefix, n, d); err != nil {
			return nil, fmt.Errorf("etcd, %d clients: %w", n, err)
		}
		bolt, err := benchkit.StartCertmgr(filepath.Join(dir, fmt.Sprintf("bolt-%d", n)))
		if err != nil {
			return nil, err
		}
		row.Bolt, err = creates(ctx, bolt, n, d, tmpl)
		bolt.Close()
		if err != nil {
			return nil, fmt.Errorf("bbolt, %d clients: %w", n, err)
		}
		log.Info("creates", slog.Int("clients", n), slog.Float64("etcdPerSec", row.Etcd.PerSec), slog.Float64("bboltPerSec", row.Bolt.PerSec))
		res.Rows = append(res.Rows, row)
		res.DBCerts += row.Etcd.Creates + 1 // the untimed create of each client too
		if i == 1 {
			if res.CacheCerts, res.CacheBytes, err = h.cacheMemory(prefix, row.Etcd.Creates+n); err != nil {
				return nil, err
			}
		}
	}

	for range kills {
		k, err := h.killLeader(ctx, log)
		if err != nil {
			return nil, err
		}
		res.Kills = append(res.Kills, k)
		res.DBCerts += k.created
	}

	pcfg := propagation.Config{Subscribers: subs, Changes: changes, Log: cfg.Log}
	var replicas []*benchkit.Certmgr
	for range 2 {
		r, err := h.replica("/bench/propagation/")
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, r)
	}
	if res.Propagation, err = propagation.RunReplicas(ctx, pcfg, replicas); err != nil {
		return nil, fmt.Errorf("propagation over 2 replicas: %w", err)
	}
	res.DBCerts += 1 + (res.Propagation.Changes+1)/2
	pcfg.WorkDir = filepath.Join(dir, "bolt-propagation")
	if res.BoltPropagation, err = propagation.Run(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("propagation on bbolt: %w", err)
	}
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if res.DBSize, err = c.DBSize(sctx, cli); err != nil {
		return nil, err
	}
	return res, nil
}

// harness starts certmgr replicas on the cluster, each with its own etcd
// client, and closes them all at the end.
type harness struct {
	c        *etcdproc.Cluster
	dir      string
	keyFile  string
	adminKey string
	tmpl     *certmgrv1.CreateCertificateRequest
	closers  []func()
}

func (h *harness) replica(prefix string) (*benchkit.Certmgr, error) {
	cli, err := h.c.Client()
	if err != nil {
		return nil, err
	}
	r, err := benchkit.StartCertmgrEtcd(cli, prefix, h.keyFile, h.adminKey)
	if err != nil {
		cli.Close()
		return nil, err
	}
	h.closers = append(h.closers, func() { r.Close(); cli.Close() })
	return r, nil
}

func (h *harness) close() {
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
}

// creates runs n clients against a fresh replica on prefix for d.
func (h *harness) creates(ctx context.Context, prefix string, n int, d time.Duration) (Rate, error) {
	r, err := h.replica(prefix)
	if err != nil {
		return Rate{}, err
	}
	return creates(ctx, r, n, d, h.tmpl)
}

// cacheMemory starts a replica on prefix, which holds certs certificates,
// and returns the live heap its start added: the median of 3 starts, each
// replica closed before the next, as other work in the process moves the
// heap too.
func (h *harness) cacheMemory(prefix string, certs int) (int, int64, error) {
	var deltas []int64
	for range 3 {
		cli, err := h.c.Client()
		if err != nil {
			return 0, 0, err
		}
		before := liveHeap()
		r, err := benchkit.StartCertmgrEtcd(cli, prefix, h.keyFile, h.adminKey)
		if err != nil {
			cli.Close()
			return 0, 0, err
		}
		_, err = r.Revision()
		after := liveHeap()
		r.Close()
		cli.Close()
		if err != nil {
			return 0, 0, err
		}
		deltas = append(deltas, after-before)
	}
	slices.Sort(deltas)
	return certs, deltas[1], nil
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// killLeader keeps one client creating on a replica, kills the etcd leader
// with SIGKILL, and times until a create sent after the kill succeeds;
// then it starts the member again and waits for a leader.
func (h *harness) killLeader(ctx context.Context, log *slog.Logger) (Kill, error) {
	r, err := h.replica("/bench/kill/")
	if err != nil {
		return Kill{}, err
	}
	conn, err := r.Dial()
	if err != nil {
		return Kill{}, err
	}
	defer conn.Close()
	w := &writer{client: certmgrv1.NewCertificateServiceClient(conn), tmpl: h.tmpl, prefix: "kill" + rand.Text()[:6]}
	if _, err := w.create(ctx, 5*time.Second); err != nil {
		return Kill{}, err
	}
	leader, err := h.c.Leader(ctx, 10*time.Second)
	if err != nil {
		return Kill{}, err
	}
	killed := time.Now()
	h.c.Kill(leader)
	var k Kill
	for {
		sent := time.Now()
		// A short timeout: a create sent to a member that has lost its
		// leader hangs until then, and the measure is no finer than it.
		_, err := w.create(ctx, 250*time.Millisecond)
		if err == nil {
			k.Unavailable = time.Since(killed)
			break
		}
		if ctx.Err() != nil {
			return Kill{}, ctx.Err()
		}
		k.Failed++
		if time.Since(killed) > 60*time.Second {
			return Kill{}, fmt.Errorf("no create succeeded within 60s of killing the leader %s (last: %w)", leader.Name, err)
		}
		// A failure that came at once is not retried in a tight loop.
		if time.Since(sent) < 10*time.Millisecond {
			time.Sleep(10 * time.Millisecond)
		}
	}
	k.created = 2
	log.Info("leader killed", slog.String("member", leader.Name), slog.Duration("unavailable", k.Unavailable), slog.Int("failedCreates", k.Failed))
	if err := h.c.Restart(leader); err != nil {
		return Kill{}, err
	}
	if _, err := h.c.Leader(ctx, 30*time.Second); err != nil {
		return Kill{}, err
	}
	return k, nil
}

// creates has n clients, each on its own connection, create certificates
// one at a time for d.
func creates(ctx context.Context, srv *benchkit.Certmgr, n int, d time.Duration, tmpl *certmgrv1.CreateCertificateRequest) (Rate, error) {
	ws := make([]*writer, n)
	for i := range ws {
		conn, err := srv.Dial()
		if err != nil {
			return Rate{}, err
		}
		defer conn.Close()
		ws[i] = &writer{client: certmgrv1.NewCertificateServiceClient(conn), tmpl: tmpl, prefix: fmt.Sprintf("client%d", i)}
		// One untimed create sets the connection up.
		if _, err := ws[i].create(ctx, 30*time.Second); err != nil {
			return Rate{}, err
		}
	}
	lats := make([][]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, w := range ws {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				took, err := w.create(ctx, 30*time.Second)
				if err != nil {
					errs <- err
					return
				}
				lats[i] = append(lats[i], took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return Rate{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return Rate{}, errors.New("no create finished")
	}
	q := benchkit.Quantiles(all, 0.5, 0.99)
	return Rate{Creates: len(all), PerSec: float64(len(all)) / elapsed.Seconds(), P50: q[0], P99: q[1]}, nil
}

// writer creates certificates named after its prefix and a count.
type writer struct {
	client certmgrv1.CertificateServiceClient
	tmpl   *certmgrv1.CreateCertificateRequest
	prefix string
	seq    int
}

func (w *writer) create(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	req := proto.CloneOf(w.tmpl)
	req.Name = fmt.Sprintf("%sCert%d", w.prefix, w.seq)
	w.seq++
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if _, err := w.client.CreateCertificate(ctx, req); err != nil {
		return 0, fmt.Errorf("create %s: %w", req.Name, err)
	}
	return time.Since(start), nil
}
