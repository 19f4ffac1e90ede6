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
}

func newPooler() *pooler { return &pooler{by: map[rowKey]*pooled{}} }

// add pools one run and the latencies of its requests.
func (p *pooler) add(run Row, lat []time.Duration) {
	k := rowKey{run.Setup, run.Size, run.Concurrency}
	acc := p.by[k]
	if acc == nil {
		acc = &pooled{row: Row{Setup: run.Setup, Size: run.Size, Concurrency: run.Concurrency, cpuKnown: true}}
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
	r.cpu += run.cpu
	r.sys += run.sys
	// One run that could not tell its CPU leaves the pooled figure
	// unknown rather than an average over the others.
	r.cpuKnown = r.cpuKnown && run.cpuKnown
	acc.lat = append(acc.lat, lat...)
}

// rows returns the pooled rows in the order their first runs came.
func (p *pooler) rows() []Row {
	out := make([]Row, 0, len(p.order))
	for _, k := range p.order {
		acc := p.by[k]
		slices.Sort(acc.lat)
		r := acc.row
		r.derive(acc.lat)
		out = append(out, r)
	}
	return out
}
