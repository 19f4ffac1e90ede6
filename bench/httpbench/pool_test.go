package httpbench

import (
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestPoolerAddsUpRuns pools two runs of one row: counts add up, req/s is
// over both runs' time, percentiles come from every latency together and
// CPU per request is weighted by each run's requests.
func TestPoolerAddsUpRuns(t *testing.T) {
	p := newPooler()
	p.add(Row{Setup: SetupEdge, Size: "small", Concurrency: 16, Round: 1, Duration: time.Second, Requests: 100, Errors: 1,
		FirstError: "first", FullHandshakes: 1, cpu: 1000 * time.Microsecond, sys: 400 * time.Microsecond, cpuKnown: true},
		latencies(100, ms(1)))
	p.add(Row{Setup: SetupNginx, Size: "small", Concurrency: 16, Round: 1, Duration: time.Second, Requests: 1}, latencies(1, ms(1)))
	p.add(Row{Setup: SetupEdge, Size: "small", Concurrency: 16, Round: 2, Duration: time.Second, Requests: 300, Errors: 2,
		FirstError: "second", ResumedHandshakes: 3, cpu: 9000 * time.Microsecond, sys: 2400 * time.Microsecond, cpuKnown: true},
		latencies(300, ms(9)))
	rows := p.rows()
	if len(rows) != 2 || rows[0].Setup != SetupEdge || rows[1].Setup != SetupNginx {
		t.Fatalf("rows = %+v, want the edge's then nginx's", rows)
	}
	got := rows[0]
	want := Row{Setup: SetupEdge, Size: "small", Concurrency: 16, Rounds: 2, Duration: 2 * time.Second,
		Requests: 400, RequestsPerSec: 200, P50: ms(9), P99: ms(9), Errors: 3, FirstError: "first",
		FullHandshakes: 1, ResumedHandshakes: 3, HandshakesPer1000: 10,
		// (1000 + 9000) µs / 400 and (400 + 2400) µs / 400.
		ProxyCPUPerRequest: 25 * time.Microsecond, ProxySystemPerRequest: 7 * time.Microsecond,
		cpu: 10000 * time.Microsecond, sys: 2800 * time.Microsecond, cpuKnown: true}
	if got != want {
		t.Errorf("pooled row\n got %+v\nwant %+v", got, want)
	}
	// A quarter of the latencies are 1ms: the 20th percentile is one.
	if p20 := percentile(p.by[rowKey{SetupEdge, "small", 16}].lat, 20); p20 != ms(1) {
		t.Errorf("p20 of the pooled latencies = %v, want 1ms", p20)
	}
}

// TestPoolerUnknownCPU leaves CPU per request unknown when one run could
// not read it, rather than averaging over the runs that could.
func TestPoolerUnknownCPU(t *testing.T) {
	p := newPooler()
	p.add(Row{Setup: SetupEdge, Size: "small", Concurrency: 16, Duration: time.Second, Requests: 10, cpu: 10 * time.Microsecond, cpuKnown: true}, nil)
	p.add(Row{Setup: SetupEdge, Size: "small", Concurrency: 16, Duration: time.Second, Requests: 10}, nil)
	if got := p.rows()[0].ProxyCPUPerRequest; got != 0 {
		t.Errorf("CPU per request = %v, want 0 (unknown)", got)
	}
}

func latencies(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// TestRatioRanges shows, beside each pooled ratio, the lowest and highest
// of the ratios round by round.
func TestRatioRanges(t *testing.T) {
	r := &Results{Duration: time.Second, Rounds: 2, CPUs: 2}
	p := newPooler()
	for round, rates := range [][2]int{{1500, 1000}, {2500, 1000}} {
		for i, s := range []string{SetupEdge, SetupNginx} {
			run := Row{Setup: s, Size: "small", Concurrency: 16, Round: round + 1, Duration: time.Second,
				Requests: rates[i], cpu: time.Duration(10*(i+1)*rates[i]) * time.Microsecond, cpuKnown: true}
			lat := latencies(10, ms(4*(i+1)))
			run.derive(lat)
			r.Runs = append(r.Runs, run)
			p.add(run, lat)
		}
	}
	r.Rows = p.rows()
	md := r.Markdown()
	// Pooled: 4000 against 2000 requests; round by round 1.5 and 2.5.
	// p99 and CPU are the same in both rounds.
	want := "| 16 | 2.00 (1.50–2.50) | 0.50 (0.50–0.50) | 0.50 (0.50–0.50) | n/a | n/a | n/a |"
	if !strings.Contains(md, want) {
		t.Errorf("Markdown lacks %q:\n%s", want, md)
	}
	if !strings.Contains(md, "2 rounds") || !strings.Contains(md, "2s measured in all") {
		t.Errorf("Markdown does not say how the rounds were run:\n%s", md)
	}
}
