package httpbench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/certbind/certbind/bench/report"
)

// Markdown returns the results as a Markdown section: how they were
// measured, then per response size a table of every run and a table of
// the edge's ratios to nginx and caddy, then the setups not measured.
func (r *Results) Markdown() string {
	var b strings.Builder
	b.WriteString("## HTTP request path: certbind edge, nginx and caddy in front of an mTLS backend\n\n")
	fmt.Fprintf(&b, "Each run: %s measured after a %s warm-up; closed loop, one keep-alive HTTP/1.1 connection per client; "+
		"%d CPUs, %s, %s; the backend and the load generator share one process, and each proxy (the edge under `certbind dev`, nginx, caddy) runs in its own. "+
		"Backend: Go, TLS 1.3, ECDSA P-256, client certificate required.", r.Duration, r.Warmup, r.CPUs, r.Platform, r.GoVersion)
	if r.Rounds > 1 {
		fmt.Fprintf(&b, " %d rounds: in each, every setup has one run at each size and concurrency, taking turns, before the next round begins; "+
			"a row pools a setup's %d runs (%s measured in all).", r.Rounds, r.Rounds, r.Duration*time.Duration(r.Rounds))
	}
	for _, s := range []string{SetupNginx, SetupCaddy} {
		if v, ok := r.Versions[s]; ok {
			fmt.Fprintf(&b, " %s: %s.", s, v)
		}
	}
	b.WriteString("\n")
	for _, size := range r.sizes() {
		fmt.Fprintf(&b, "\n### %s responses (%d B)\n\n", size.Name, size.Bytes)
		b.WriteString(r.runsTable(size.Name).Markdown())
		b.WriteString("\n")
		b.WriteString(r.ratioTable(size.Name).Markdown())
		if r.has(SetupBaseline) {
			b.WriteString("\n")
			b.WriteString(r.baselineTable(size.Name).Markdown())
		}
	}
	b.WriteString("\nRatios are certbind edge ÷ peer: a req/s ratio above 1, or a p99 or CPU/req ratio below 1, means the edge does better. ")
	if r.Rounds > 1 {
		b.WriteString("Each ratio is of the pooled rows; in brackets, the lowest and highest of the same ratio taken round by round " +
			"(the edge's run against the peer's of the same round, seconds apart): how far a single comparison strays on this machine. ")
	}
	b.WriteString(
		"Proxy CPU /req is the user and system CPU time of the proxy's processes (nginx's workers included) per request while measuring, read from /proc: " +
			"on a machine the load generator and the backend share, it decides how much throughput is left, and it varies less from run to run than req/s. " +
			"Of it in the kernel is its system time: the system calls and the TCP work they do; the rest is the proxy's own code in user space.\n")
	if len(r.Skipped) > 0 {
		b.WriteString("\nNot measured:\n\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(&b, "- %s: %s\n", s.Setup, s.Reason)
		}
	}
	return b.String()
}

func (r *Results) runsTable(size string) report.Table {
	t := report.Table{Columns: []report.Column{{Title: "setup"}, {Title: "clients", Right: true}, {Title: "req/s", Right: true},
		{Title: "p50", Right: true}, {Title: "p99", Right: true}, {Title: "errors", Right: true},
		{Title: "backend handshakes /1000 req", Right: true}, {Title: "full + resumed", Right: true},
		{Title: "proxy CPU /req", Right: true}, {Title: "of it in the kernel", Right: true}}}
	for _, conc := range r.concurrencies() {
		for _, setup := range Setups {
			row := r.find(setup, size, conc)
			if row == nil {
				continue
			}
			t.Rows = append(t.Rows, []string{setup, fmt.Sprint(conc), fmt.Sprintf("%.0f", row.RequestsPerSec),
				fmtLatency(row.P50), fmtLatency(row.P99), fmt.Sprint(row.Errors), fmt.Sprintf("%.2f", row.HandshakesPer1000),
				fmt.Sprintf("%d + %d", row.FullHandshakes, row.ResumedHandshakes), fmtCPU(row.ProxyCPUPerRequest),
				fmtCPU(row.ProxySystemPerRequest)})
		}
	}
	return t
}

func (r *Results) ratioTable(size string) report.Table {
	t := report.Table{Columns: []report.Column{{Title: "clients", Right: true},
		{Title: "edge/nginx req/s", Right: true}, {Title: "edge/nginx p99", Right: true}, {Title: "edge/nginx CPU/req", Right: true},
		{Title: "edge/caddy req/s", Right: true}, {Title: "edge/caddy p99", Right: true}, {Title: "edge/caddy CPU/req", Right: true}}}
	for _, conc := range r.concurrencies() {
		edge := r.find(SetupEdge, size, conc)
		cells := []string{fmt.Sprint(conc)}
		for _, peer := range []string{SetupNginx, SetupCaddy} {
			p := r.find(peer, size, conc)
			if edge == nil || p == nil {
				cells = append(cells, "n/a", "n/a", "n/a")
				continue
			}
			cells = append(cells,
				r.ratioCell(edge, p, func(r *Row) float64 { return r.RequestsPerSec }),
				r.ratioCell(edge, p, func(r *Row) float64 { return r.P99.Seconds() }),
				r.ratioCell(edge, p, func(r *Row) float64 { return r.ProxyCPUPerRequest.Seconds() }))
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// baselineTable compares the edge with the baseline build of it (see
// Config.Baseline): the change's cost or gain, within one run.
func (r *Results) baselineTable(size string) report.Table {
	t := report.Table{Columns: []report.Column{{Title: "clients", Right: true},
		{Title: "edge/baseline req/s", Right: true}, {Title: "edge/baseline p99", Right: true}, {Title: "edge/baseline CPU/req", Right: true}}}
	for _, conc := range r.concurrencies() {
		edge, base := r.find(SetupEdge, size, conc), r.find(SetupBaseline, size, conc)
		if edge == nil || base == nil {
			t.Rows = append(t.Rows, []string{fmt.Sprint(conc), "n/a", "n/a", "n/a"})
			continue
		}
		t.Rows = append(t.Rows, []string{fmt.Sprint(conc),
			r.ratioCell(edge, base, func(r *Row) float64 { return r.RequestsPerSec }),
			r.ratioCell(edge, base, func(r *Row) float64 { return r.P99.Seconds() }),
			r.ratioCell(edge, base, func(r *Row) float64 { return r.ProxyCPUPerRequest.Seconds() })})
	}
	return t
}

// has reports whether any row is of setup.
func (r *Results) has(setup string) bool {
	return slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Setup == setup })
}

// ratioCell shows of(edge) ÷ of(peer) for the pooled rows and, when
// there was more than one round, the range of the same ratio round by
// round: "0.91 (0.86–0.97)".
func (r *Results) ratioCell(edge, peer *Row, of func(*Row) float64) string {
	cell := ratio(of(edge), of(peer))
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for round := 1; round <= r.Rounds; round++ {
		e, p := r.run(edge.Setup, edge.Size, edge.Concurrency, round), r.run(peer.Setup, peer.Size, peer.Concurrency, round)
		if e == nil || p == nil || of(p) == 0 {
			continue
		}
		x := of(e) / of(p)
		lo, hi, n = min(lo, x), max(hi, x), n+1
	}
	if n < 2 || cell == "n/a" {
		return cell
	}
	return fmt.Sprintf("%s (%.2f–%.2f)", cell, lo, hi)
}

// sizes returns the Sizes that have rows, in Sizes order.
func (r *Results) sizes() []Size {
	var out []Size
	for _, s := range Sizes {
		if slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Size == s.Name }) {
			out = append(out, s)
		}
	}
	return out
}

// concurrencies returns the concurrency levels of the rows in the order
// they were measured.
func (r *Results) concurrencies() []int {
	var out []int
	for _, row := range r.Rows {
		if !slices.Contains(out, row.Concurrency) {
			out = append(out, row.Concurrency)
		}
	}
	return out
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// fmtLatency writes a latency in milliseconds with three significant
// digits or so, the unit of every latency column.
func fmtLatency(d time.Duration) string {
	ms := d.Seconds() * 1000
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

// fmtCPU shows a CPU time per request in microseconds; "-" for none.
func fmtCPU(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
