// Package storebench measures how many certificate creates per second
// certmgr commits through its real API, from one and from many concurrent
// clients, beside the latency of the disk's fsync that bounds it.
//
// Each row starts a fresh certmgr in-process (its bbolt store in the work
// directory, fsync on every commit as in production, gRPC on 127.0.0.1) and
// runs its clients, each on its own connection, for the configured time.
package storebench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/internal/serve"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// Config configures Run.
type Config struct {
	// Clients lists the concurrency of each row. Default 1, 32 and 128.
	Clients []int
	// Duration is how long each row runs. Default 3s.
	Duration time.Duration
	// Smoke runs 1 and 4 clients for 300ms each, and probes fsync for
	// 200ms, whatever the fields above say.
	Smoke bool
	// WorkDir holds the stores and the fsync probe's file; it should be on
	// the disk certmgr would use. Empty means a temporary directory,
	// removed afterwards.
	WorkDir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result is what Run measured.
type Result struct {
	// Rows go through certmgr's gRPC API; StoreRows call its store
	// directly, at the same concurrencies.
	Rows      []Row
	StoreRows []Row
	// FsyncP50 and FsyncP99 are the latency of writing 4 KiB and syncing
	// it, in the work directory. A bbolt commit syncs twice.
	FsyncP50, FsyncP99 time.Duration
	// TogetherP50 and ScatteredP50 are the median latency of writing 64
	// pages of 4 KiB and syncing them, written all at once in one place
	// and one by one at scattered places (as a commit writes them).
	TogetherP50, ScatteredP50 time.Duration
	// WritesCounted says whether the platform counts what the process
	// writes to the work directory's disk (not on tmpfs, nor outside
	// Linux): when it does not, no row has WrittenPerCreate.
	WritesCounted bool
}

// Row is one concurrency's throughput and create latency.
type Row struct {
	Clients       int
	Creates       int
	CreatesPerSec float64
	P50, P99      time.Duration
	// CPUPerCreate is the CPU time (user and system) the process used per
	// create while the row ran, certmgr and its clients together; 0 where
	// the platform cannot tell. The machine's CPUs divided by it bound
	// creates/s however well writes are grouped.
	CPUPerCreate time.Duration
	// CreatesPerCommit is how many creates a store transaction committed
	// on average while the row ran: how well writes were grouped.
	CreatesPerCommit float64
	// Committing is the share of the row's time the store's committer was
	// busy with a group of writes (revlog.Stats.Busy): near 1, groups
	// commit back to back and bound the rate, not the writers.
	// CommitTime is how long a group took on average, from its start to
	// its last sync.
	Committing float64
	CommitTime time.Duration
	// WrittenPerCreate is what the process wrote to storage per create
	// while the row ran (certmgr's file: records, changelog, and every
	// page of the trees a commit rewrites); 0 where the platform does not
	// count it (see Result.WritesCounted).
	WrittenPerCreate int64
}

// Run probes fsync, then measures each row of cfg.Clients in turn through
// the API, then again calling the store directly.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	clients, d, probe := cfg.Clients, cfg.Duration, time.Second
	if len(clients) == 0 {
		clients = []int{1, 32, 128}
	}
	if d <= 0 {
		d = 3 * time.Second
	}
	if cfg.Smoke {
		clients, d, probe = []int{1, 4}, 300*time.Millisecond, 200*time.Millisecond
	}
	log := benchkit.Logger(cfg.Log)
	// certmgr runs in this process; it gets the garbage collector target
	// its mains give it.
	defer serve.TuneGC()()
	dir, done, err := benchkit.WorkDir(cfg.WorkDir, "storebench-")
	if err != nil {
		return nil, err
	}
	defer done()
	tmpl, err := upload()
	if err != nil {
		return nil, err
	}

	res := &Result{}
	// The probe runs first, on a quiet disk. What it writes shows whether
	// the process's writes there are counted.
	written0, _ := processWritten()
	if res.FsyncP50, res.FsyncP99, err = syncLatency(dir, onePage, probe); err != nil {
		return nil, err
	}
	if res.TogetherP50, _, err = syncLatency(dir, pagesTogether, probe); err != nil {
		return nil, err
	}
	if res.ScatteredP50, _, err = syncLatency(dir, pagesScatter, probe); err != nil {
		return nil, err
	}
	written1, ok := processWritten()
	res.WritesCounted = ok && written1 > written0
	log.Info("fsync probed", slog.Duration("p50", res.FsyncP50), slog.Duration("p99", res.FsyncP99),
		slog.Duration("64 pages together p50", res.TogetherP50), slog.Duration("64 pages scattered p50", res.ScatteredP50))
	for _, n := range clients {
		row, err := runRow(ctx, filepath.Join(dir, fmt.Sprintf("clients-%d", n)), n, d, tmpl)
		if err != nil {
			return nil, fmt.Errorf("%d clients: %w", n, err)
		}
		log.Info("row done", slog.Int("clients", n), slog.Int("creates", row.Creates), slog.Float64("perSec", row.CreatesPerSec))
		res.Rows = append(res.Rows, row)
	}
	rec, err := storeRecord(tmpl.CertificatePem, tmpl.PrivateKeyPem)
	if err != nil {
		return nil, err
	}
	for _, n := range clients {
		row, err := runStoreRow(filepath.Join(dir, fmt.Sprintf("store-%d", n)), n, d, rec)
		if err != nil {
			return nil, fmt.Errorf("store alone, %d writers: %w", n, err)
		}
		log.Info("store row done", slog.Int("writers", n), slog.Int("creates", row.Creates), slog.Float64("perSec", row.CreatesPerSec))
		res.StoreRows = append(res.StoreRows, row)
	}
	if !res.WritesCounted {
		// Whatever the rows read of write_bytes is not this disk's.
		for _, rows := range [][]Row{res.Rows, res.StoreRows} {
			for i := range rows {
				rows[i].WrittenPerCreate = 0
			}
		}
	}
	return res, nil
}

// runRow starts a fresh certmgr in dir and has n clients create
// certificates, one at a time each, for d.
func runRow(ctx context.Context, dir string, n int, d time.Duration, tmpl *certmgrv1.CreateCertificateRequest) (Row, error) {
	srv, err := benchkit.StartCertmgr(dir)
	if err != nil {
		return Row{}, err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := make([]*worker, n)
	for i := range workers {
		conn, err := srv.Dial()
		if err != nil {
			return Row{}, err
		}
		defer conn.Close()
		workers[i] = &worker{id: i, client: certmgrv1.NewCertificateServiceClient(conn), tmpl: tmpl}
		// One untimed create sets the connection up.
		if _, err := workers[i].create(ctx); err != nil {
			return Row{}, err
		}
	}

	return measure(n, d, srv.CommitStats, func(w int) (time.Duration, error) {
		took, err := workers[w].create(ctx)
		if err != nil {
			cancel()
		}
		return took, err
	})
}

// measure runs n writers, each calling create with its number, one call at
// a time, for d or until a call fails, and returns the row of their
// creates. create returns how long the create took; commits says how the
// store has committed.
func measure(n int, d time.Duration, commits func() revlog.Stats, create func(w int) (time.Duration, error)) (Row, error) {
	lats := make([][]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	cpu0, cpuOK := processCPU()
	written0, writtenOK := processWritten()
	commits0 := commits()
	start := time.Now()
	deadline := start.Add(d)
	for w := range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				took, err := create(w)
				if err != nil {
					errs <- err
					return
				}
				lats[w] = append(lats[w], took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := processCPU()
	written1, _ := processWritten()
	commits1 := commits()
	close(errs)
	if err := <-errs; err != nil {
		return Row{}, err
	}
	var lat []time.Duration
	for _, l := range lats {
		lat = append(lat, l...)
	}
	q := benchkit.Quantiles(lat, 0.5, 0.99)
	row := Row{Clients: n, Creates: len(lat), CreatesPerSec: float64(len(lat)) / elapsed.Seconds(), P50: q[0], P99: q[1]}
	if cpuOK && len(lat) > 0 {
		row.CPUPerCreate = (cpu1 - cpu0) / time.Duration(len(lat))
	}
	if c := commits1.Commits - commits0.Commits; c > 0 {
		busy := commits1.Busy - commits0.Busy
		row.CreatesPerCommit = float64(len(lat)) / float64(c)
		row.Committing = min(1, busy.Seconds()/elapsed.Seconds())
		row.CommitTime = busy / time.Duration(c)
	}
	if writtenOK && len(lat) > 0 {
		row.WrittenPerCreate = (written1 - written0) / int64(len(lat))
	}
	return row, nil
}

// worker is one client: a connection of its own and a run of names.
type worker struct {
	id     int
	seq    int
	client certmgrv1.CertificateServiceClient
	tmpl   *certmgrv1.CreateCertificateRequest
}

// create creates the worker's next certificate and returns how long the
// call took.
func (w *worker) create(ctx context.Context) (time.Duration, error) {
	req := proto.CloneOf(w.tmpl)
	req.Name = fmt.Sprintf("client%dCert%d", w.id, w.seq)
	w.seq++
	start := time.Now()
	if _, err := w.client.CreateCertificate(ctx, req); err != nil {
		return 0, fmt.Errorf("create %s: %w", req.Name, err)
	}
	return time.Since(start), nil
}
