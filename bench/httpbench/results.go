package httpbench

import "time"

// Results is what Run measured.
type Results struct {
	// Rows has a row per setup, size and concurrency: its runs of every
	// round pooled.
	Rows []Row
	// Runs has every run, in the order measured; Row.Round says which
	// round each belongs to.
	Runs    []Row
	Skipped []Skip
	// Duration and Warmup are each run's measured time and the warm-up
	// before it; Rounds is the number of runs of each row.
	Duration, Warmup time.Duration
	Rounds           int
	// The machine: CPU count, GOOS/GOARCH and the Go version of this
	// process (which runs the backend, the generator and the edge).
	CPUs      int
	Platform  string
	GoVersion string
	// Versions holds the version of each peer proxy measured.
	Versions map[string]string
}

// Row is one setup at one response size and concurrency: one run, or the
// runs of every round pooled.
type Row struct {
	Setup       string // SetupDirect, SetupEdge, SetupNginx or SetupCaddy
	Size        string // a Size's Name: "small" or "64KiB"
	Concurrency int
	// Round is the round of a run, from 1; 0 in a pooled row. Rounds is
	// the number of runs the row holds, and Duration their measured time
	// together.
	Round    int
	Rounds   int
	Duration time.Duration

	// Requests succeeded while measuring; RequestsPerSec is that over
	// Duration. P50 and P99 are their latencies, from sending the
	// request to reading the last byte of the body.
	Requests       int
	RequestsPerSec float64
	P50, P99       time.Duration
	// Errors counts failed requests (warm-up included): transport
	// errors, a status other than 200 or a body of the wrong length.
	// FirstError describes the first.
	Errors     int
	FirstError string
	// The backend's TLS handshakes while measuring, and their number per
	// 1000 requests: what reusing connections and sessions saves.
	FullHandshakes, ResumedHandshakes int
	HandshakesPer1000                 float64
	// ProxyCPUPerRequest is the CPU time (user and system, of the proxy's
	// processes) per request while measuring: how much of the machine
	// the proxy takes, which decides its throughput when the machine is
	// busy. Zero for direct, and where /proc cannot tell.
	ProxyCPUPerRequest time.Duration
	// ProxySystemPerRequest is the part of ProxyCPUPerRequest spent in
	// the kernel: the system calls, and the TCP work they do.
	ProxySystemPerRequest time.Duration

	// cpu and sys are the proxy's CPU time in all and in the kernel
	// while measuring; cpuKnown is false where /proc could not tell.
	cpu, sys time.Duration
	cpuKnown bool
}

// derive sets the fields that follow from the counts, the CPU times and
// the latencies of the row's requests, sorted.
func (r *Row) derive(sorted []time.Duration) {
	r.P50, r.P99 = percentile(sorted, 50), percentile(sorted, 99)
	if r.Duration > 0 {
		r.RequestsPerSec = float64(r.Requests) / r.Duration.Seconds()
	}
	r.HandshakesPer1000, r.ProxyCPUPerRequest, r.ProxySystemPerRequest = 0, 0, 0
	if r.Requests == 0 {
		return
	}
	r.HandshakesPer1000 = float64(r.FullHandshakes+r.ResumedHandshakes) * 1000 / float64(r.Requests)
	if r.cpuKnown {
		r.ProxyCPUPerRequest = r.cpu / time.Duration(r.Requests)
		r.ProxySystemPerRequest = r.sys / time.Duration(r.Requests)
	}
}

// Skip is a setup Run did not measure, and why.
type Skip struct {
	Setup, Reason string
}

// find returns the (pooled) row for setup, size and concurrency, or nil.
func (r *Results) find(setup, size string, conc int) *Row {
	for i := range r.Rows {
		if row := &r.Rows[i]; row.Setup == setup && row.Size == size && row.Concurrency == conc {
			return row
		}
	}
	return nil
}

// run returns the run of setup, size and concurrency in round, or nil.
func (r *Results) run(setup, size string, conc, round int) *Row {
	for i := range r.Runs {
		if row := &r.Runs[i]; row.Setup == setup && row.Size == size && row.Concurrency == conc && row.Round == round {
			return row
		}
	}
	return nil
}
