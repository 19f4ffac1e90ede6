package edge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/watch"
)

// cacheGauges says where the state came from and how stale it is, per
// stream, and when the on-disk cache was written.
func (m *metrics) cacheGauges(streams func() []watch.Status, cacheStatus func() (cache.Status, bool)) {
	for i, name := range []string{"certificates", "deployments"} {
		labels := prometheus.Labels{"stream": name}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_edge_stream_from_cache", ConstLabels: labels,
			Help: "1 while the stream's part of the state is the one the edge read from its on-disk cache at start, because no replica of the control plane has answered since; 0 otherwise.",
		}, func() float64 {
			if streams()[i].FromCache {
				return 1
			}
			return 0
		}))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_edge_stream_stale_seconds", ConstLabels: labels,
			Help: "Seconds since the control plane last sent anything on the stream (heartbeats included), across restarts when the state came from the cache; 0 before it ever did.",
		}, func() float64 {
			if t := streams()[i].LastEvent; !t.IsZero() {
				return time.Since(t).Seconds()
			}
			return 0
		}))
	}
	stamp := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixMilli()) / 1000
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_cache_written_timestamp_seconds",
		Help: "When this edge last wrote its on-disk cache (Unix time; 0: not yet, or no cache).",
	}, func() float64 { s, _ := cacheStatus(); return stamp(s.Written) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_cache_restored_written_timestamp_seconds",
		Help: "When the cache this edge started from was written (Unix time; 0: it started empty).",
	}, func() float64 { s, _ := cacheStatus(); return stamp(s.Restored) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_cache_error",
		Help: "1 when the last write of the on-disk cache failed or the cache found at start was refused (the status and log say why); 0 otherwise.",
	}, func() float64 {
		if s, _ := cacheStatus(); s.Error != "" {
			return 1
		}
		return 0
	}))
}
