package httpbench

import (
	"slices"
	"time"
)

// pooler pools the runs of each setup, size and concurrency over the
// rounds: their requests, errors, handshakes and CPU time add up, and the
// percentiles are taken over all their latencies together.
type pooler struct {
	order []rowKey
	by    map[rowKey]*pooled
}

type rowKey struct {
	setup, size string
	conc        int
}

type pooled struct {
	row Row
	lat []time.Duration
	// cpu and sys are the proxy's CPU time over every run; known is false
	// once a run could not tell it.
	cpu, sys time.Duration
	known    bool
}

func newPooler() *pooler { return &pooler{by: map[rowKey]*pooled{}} }

// add pools one run and the latencies of its requests.
func (p *pooler) add(run Row, lat []time.Duration) {
	k := rowKey{run.Setup, run.Size, run.Concurrency}
	acc := p.by[k]
	if acc == nil {
		acc = &pooled{row: Row{Setup: run.Setup, Size: run.Size, Concurrency: run.Concurrency}, known: true}
		p.by[k] = acc
		p.order = append(p.order, k)
	}
	r := &acc.row
	r.Rounds++
	r.Duration += run.Duration
	r.Requests += run.Requests
	r.Errors += run.Errors
	if r.FirstError == "" {
		r.FirstError = run.FirstError
	}
	r.FullHandshakes += run.FullHandshakes
	r.ResumedHandshakes += run.ResumedHandshakes
	acc.lat = append(acc.lat, lat...)
	if run.Requests > 0 && run.ProxyCPUPerRequest > 0 {
		acc.cpu += run.ProxyCPUPerRequest * time.Duration(run.Requests)
		acc.sys += run.ProxySystemPerRequest * time.Duration(run.Requests)
	} else if run.Requests > 0 {
		acc.known = false
	}
}

// rows returns the pooled rows in the order their first runs came.
func (p *pooler) rows() []Row {
	out := make([]Row, 0, len(p.order))
	for _, k := range p.order {
		acc := p.by[k]
		r := acc.row
		slices.Sort(acc.lat)
		r.P50, r.P99 = percentile(acc.lat, 50), percentile(acc.lat, 99)
		if r.Duration > 0 {
			r.RequestsPerSec = float64(r.Requests) / r.Duration.Seconds()
		}
		if r.Requests > 0 {
			r.HandshakesPer1000 = float64(r.FullHandshakes+r.ResumedHandshakes) * 1000 / float64(r.Requests)
			if acc.known && acc.cpu > 0 {
				r.ProxyCPUPerRequest = acc.cpu / time.Duration(r.Requests)
				r.ProxySystemPerRequest = acc.sys / time.Duration(r.Requests)
			}
		}
		out = append(out, r)
	}
	return out
}
