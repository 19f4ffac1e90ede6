// Command bench measures certbind beside its peers, in one run on one
// machine, and writes the results as markdown and an SVG chart:
//
//   - HTTP: the same mTLS backend reached directly, through the certbind
//     edge, through nginx (proxy_ssl_certificate) and through Caddy
//     (reverse_proxy with tls_client_auth), with one load generator, for a
//     small and a 64 KiB response at several concurrencies;
//   - propagation: from a certificate change being acknowledged to 1,000
//     stream subscribers having it, and memory per idle subscriber;
//   - store: certificate creates per second with 1, 32 and 128 clients,
//     with the disk's fsync latency beside them;
//   - HA: on a 3-member etcd cluster, creates per second at 1 and 32
//     clients, how long writes fail after the leader is killed, and
//     propagation to subscribers over 2 certmgr replicas, bbolt beside
//     (skipped, saying so, without an etcd binary: `make etcd`).
//
// nginx and Caddy are installed from Debian's packages when missing (as
// root). Everything runs on 127.0.0.1. --smoke runs each part for a moment,
// to show it works, not how fast.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/certbind/certbind/bench/habench"
	"github.com/certbind/certbind/bench/httpbench"
	"github.com/certbind/certbind/bench/propagation"
	"github.com/certbind/certbind/bench/storebench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	smoke := fs.Bool("smoke", false, "run every part briefly, to check it works (for CI)")
	out := fs.String("out", "", "directory for results.md and http.svg (none when empty)")
	duration := fs.Duration("duration", 3*time.Second, "measured time of each HTTP run")
	rounds := fs.Int("rounds", 3, "HTTP rounds: each measures every setup once at each size and concurrency")
	only := fs.String("only", "http,propagation,store,ha", "comma-separated parts to run")
	etcdBin := fs.String("etcd", "", "etcd binary for the HA part (default ./.bin/etcd, built by `make etcd`, then etcd on PATH)")
	setups := fs.String("setups", "", "comma-separated HTTP setups to run, of direct, edge, baseline (needs --baseline), nginx, caddy (default all)")
	baseline := fs.String("baseline", "", "a git revision (commit, tag, HEAD~1) whose edge is measured beside this tree's in the same rounds, so a change's cost shows as a ratio of one run")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to this file: the HTTP backend and load generator, and the propagation and store benches with their in-process certmgr (the edge, nginx and Caddy run as processes of their own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	work, err := os.MkdirTemp("", "certbind-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		parts[strings.TrimSpace(p)] = true
	}
	started := time.Now()
	var md strings.Builder
	fmt.Fprintf(&md, "# certbind benchmark\n\nRun %s on %s, %d CPUs (`%s`).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), hostInfo(), runtime.NumCPU(), strings.Join(os.Args[1:], " "))
	var svg []byte
	if parts["http"] {
		fmt.Fprintln(stdout, "== HTTP: direct, certbind edge, nginx, Caddy")
		cfg := httpbench.Config{Duration: *duration, Rounds: *rounds, Smoke: *smoke, WorkDir: filepath.Join(work, "http"), Log: stdout, Baseline: *baseline}
		for _, s := range strings.Split(*setups, ",") {
			switch s = strings.TrimSpace(s); s {
			case "":
			case "edge":
				cfg.Setups = append(cfg.Setups, httpbench.SetupEdge)
			case "baseline":
				cfg.Setups = append(cfg.Setups, httpbench.SetupBaseline)
			default:
				cfg.Setups = append(cfg.Setups, s)
			}
		}
		if *smoke {
			cfg.Duration = 0 // the smoke default: a moment per run
		}
		res, err := httpbench.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		md.WriteString(res.Markdown() + "\n")
		svg = res.SVG()
	}
	if parts["propagation"] {
		fmt.Fprintln(stdout, "== propagation to stream subscribers")
		res, err := propagation.Run(ctx, propagation.Config{Subscribers: 1000, Changes: 50, Smoke: *smoke, WorkDir: filepath.Join(work, "propagation"), Log: stdout})
		if err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
		md.WriteString("## Propagation to stream subscribers\n\n" + res.Markdown() + "\n")
	}
	if parts["store"] {
		fmt.Fprintln(stdout, "== store: creates per second")
		res, err := storebench.Run(ctx, storebench.Config{Clients: []int{1, 32, 128}, Duration: 3 * time.Second, Smoke: *smoke, WorkDir: filepath.Join(work, "store"), Log: stdout})
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		md.WriteString("## Store: certificate creates\n\n" + res.Markdown() + "\n")
	}
	if parts["ha"] {
		fmt.Fprintln(stdout, "== HA: certmgr on a 3-member etcd cluster, bbolt beside")
		res, err := habench.Run(ctx, habench.Config{Etcd: *etcdBin, Smoke: *smoke, WorkDir: filepath.Join(work, "ha"), Log: stdout})
		if err != nil {
			return fmt.Errorf("ha: %w", err)
		}
		if res.Skipped != "" {
			fmt.Fprintln(stdout, "HA part skipped:", res.Skipped)
		}
		md.WriteString("## HA: etcd cluster beside bbolt\n\n" + res.Markdown() + "\n")
	}
	fmt.Fprintf(&md, "Total run time: %s.\n", time.Since(started).Round(time.Second))
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, md.String())
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	if svg != nil {
		if err := os.WriteFile(filepath.Join(*out, "http.svg"), svg, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", *out)
	return nil
}

func hostInfo() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "this machine"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "this machine"
}
