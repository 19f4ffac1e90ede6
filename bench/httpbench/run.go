package httpbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config configures Run. The zero value runs the full benchmark in a
// temporary directory.
type Config struct {
	// Duration is how long each run is measured, after a warm-up of an
	// eighth of it (at least 100ms, at most 1s). Default 3s, or 300ms in
	// Smoke mode.
	Duration time.Duration
	// Rounds is how many times every setup is measured at each size and
	// concurrency. Default 3, or 1 in Smoke mode. A round measures every
	// setup once at each size and concurrency before the next round
	// begins, so each setup's runs are spread over the whole benchmark.
	Rounds int
	// Concurrency lists the numbers of concurrent clients to measure.
	// Default [16, 64]; Smoke mode takes only the first.
	Concurrency []int
	// Smoke runs every setup briefly, to check that each answers without
	// error; the numbers mean nothing. Smoke mode never installs a
	// missing nginx or caddy: it skips them.
	Smoke bool
	// WorkDir receives the certificates, the proxies' configurations and
	// their logs, and the suite's store. Empty: a temporary directory,
	// removed afterwards.
	WorkDir string
	// Log receives a line per run as it ends. nil discards.
	Log io.Writer
	// Setups limits the run to these setups (SetupDirect, SetupEdge,
	// SetupNginx, SetupCaddy); empty runs them all. A peer left out is
	// neither installed nor listed as skipped.
	Setups []string
	// Baseline is a git revision of this repository (a commit, a tag,
	// HEAD~3) whose edge is measured beside the working tree's, as the
	// setup SetupBaseline, in the same rounds: a change's cost or gain as
	// a ratio of one run, not as figures of two runs on a drifting
	// machine. Empty: no baseline.
	Baseline string
}

func (c Config) withDefaults() (Config, error) {
	if c.Duration == 0 {
		c.Duration = 3 * time.Second
		if c.Smoke {
			c.Duration = 300 * time.Millisecond
		}
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("duration %s is negative", c.Duration)
	}
	if c.Rounds == 0 {
		c.Rounds = 3
	}
	if c.Smoke {
		c.Rounds = 1
	}
	if c.Rounds < 0 {
		return c, fmt.Errorf("rounds %d is negative", c.Rounds)
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{16, 64}
	}
	if c.Smoke {
		c.Concurrency = c.Concurrency[:1]
	}
	for _, s := range c.Setups {
		if s == SetupBaseline && c.Baseline == "" {
			return c, fmt.Errorf("setup %q needs a revision to build it from (--baseline REV)", s)
		}
		if !slices.Contains(Setups, s) {
			return c, fmt.Errorf("setup %q: there is no such setup (the setups are %s)", s, strings.Join(Setups, ", "))
		}
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return c, fmt.Errorf("concurrency %d: each level must be at least 1 client", n)
		}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c, nil
}

// wants reports whether the run includes setup.
func (c Config) wants(setup string) bool {
	if setup == SetupBaseline && c.Baseline == "" {
		return false
	}
	return len(c.Setups) == 0 || slices.Contains(c.Setups, setup)
}

func (c Config) warmup() time.Duration {
	return min(max(c.Duration/8, 100*time.Millisecond), time.Second)
}

// Run measures every available setup at every size and concurrency, one
// run at a time, so that each runs alone on the machine; the setups are all
// started first and take turns. A peer proxy that is not installed is installed with apt-get
// when running as root outside Smoke mode, and otherwise skipped and
// listed in Results.Skipped. A setup that is there but fails to start or
// to answer fails Run, which then returns the rows measured so far with
// the error.
func Run(ctx context.Context, cfg Config) (res *Results, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	dir := cfg.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "httpbench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the work directory: %w", err)
	}
	p, err := newPKI()
	if err != nil {
		return nil, err
	}
	if err := p.writeFiles(dir); err != nil {
		return nil, err
	}
	b, err := startBackend(p)
	if err != nil {
		return nil, err
	}
	defer b.close()
	e := &env{pki: p, backend: b, dir: dir}

	res = &Results{Duration: cfg.Duration, Warmup: cfg.warmup(), Rounds: cfg.Rounds, CPUs: runtime.NumCPU(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version(), Versions: map[string]string{}}
	setups := []namedSetup{{SetupDirect, startDirect}, {SetupEdge, startEdge}}
	if cfg.Baseline != "" {
		setups = append(setups, namedSetup{SetupBaseline, baselineStarter(cfg.Baseline)})
	}
	setups = append(setups, availablePeers(ctx, cfg, res)...)
	var live []liveSetup
	defer func() {
		for _, l := range live {
			if serr := l.stop(); serr != nil && err == nil {
				err = fmt.Errorf("%s: stop: %w", l.name, serr)
			}
		}
	}()
	for _, s := range setups {
		if !cfg.wants(s.name) {
			continue
		}
		t, stop, err := s.start(ctx, e)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
		live = append(live, liveSetup{s.name, t, stop})
	}
	// Every setup is up at once, idle but for its own runs, and the runs
	// take turns: in each round, for each size and concurrency, one run of
	// each setup. The machine's speed drifts over minutes on shared
	// hardware; turns spread that drift over the setups instead of handing
	// it to whichever ran last, and rounds let the results show how much
	// the comparison moved within the benchmark.
	pool := newPooler()
	defer func() { res.Rows = pool.rows() }()
	for round := range cfg.Rounds {
		for _, size := range Sizes {
			for _, conc := range cfg.Concurrency {
				for _, l := range live {
					// Each run starts from a collected heap: the
					// backend and the generator share this process.
					runtime.GC()
					row, lat := measure(ctx, cfg, e.backend, l.t, l.name, size, conc)
					row.Round = round + 1
					fmt.Fprintf(cfg.Log, "httpbench: round %d/%d %-13s %-5s %3d clients: %8.0f req/s  p50 %-8s p99 %-8s errors %d  handshakes/1000 %.2f  proxy CPU/req %s\n",
						row.Round, cfg.Rounds, l.name, size.Name, conc, row.RequestsPerSec, fmtLatency(row.P50), fmtLatency(row.P99), row.Errors, row.HandshakesPer1000, fmtCPU(row.ProxyCPUPerRequest))
					res.Runs = append(res.Runs, row)
					pool.add(row, lat)
					if err := ctx.Err(); err != nil {
						return res, err
					}
				}
			}
		}
	}
	return res, nil
}

// liveSetup is a setup that is up: where to send and how to stop it.
type liveSetup struct {
	name string
	t    target
	stop func() error
}

// measure runs one window and returns its row and the latencies of its
// requests, sorted.
func measure(ctx context.Context, cfg Config, b *backend, t target, name string, size Size, conc int) (Row, []time.Duration) {
	var (
		full0, resumed0 int64
		cpu0            cpuTime
		cpuOK           bool
	)
	l := generate(ctx, t, size, window{conc: conc, warmup: cfg.warmup(), dur: cfg.Duration,
		onMeasure: func() {
			full0, resumed0 = b.handshakes()
			cpu0, cpuOK = treeCPU(t.pid)
		}})
	full1, resumed1 := b.handshakes()
	cpu1, cpuOK1 := treeCPU(t.pid)
	row := Row{
		Setup: name, Size: size.Name, Concurrency: conc, Rounds: 1, Duration: cfg.Duration,
		Requests: len(l.latencies), Errors: l.errors, FirstError: l.firstErr,
		FullHandshakes: int(full1 - full0), ResumedHandshakes: int(resumed1 - resumed0),
	}
	if cpuOK && cpuOK1 {
		used := cpu1.minus(cpu0)
		row.cpu, row.sys, row.cpuKnown = used.total(), used.sys, true
	}
	row.derive(l.latencies)
	return row, l.latencies
}
