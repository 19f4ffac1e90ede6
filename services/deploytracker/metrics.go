package deploytracker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// figures are the deploytracker's own metrics, besides gRPC's.
type figures struct {
	writes    prometheus.Histogram
	published prometheus.Counter
}

func newFigures() *figures {
	return &figures{
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "certbind_deploytracker_store_write_duration_seconds",
			Help:    "Time each write to the deploytracker's store took, from the call until its transaction committed (group commit wait and fsync included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "certbind_deploytracker_stream_changes_published_total",
			Help: "Changes committed and handed to the deployment stream; rate() of it is changes per second.",
		}),
	}
}

// Collectors returns the deploytracker's metrics, to register on the admin
// listener's registry: store writes (latency), the changelog's head
// revision and the deployment stream (subscribers, changes published).
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		s.figures.writes,
		s.figures.published,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_deploytracker_changelog_head_revision",
			Help: "Revision of the last change committed to the deploytracker's changelog and delivered to the stream.",
		}, func() float64 { return float64(s.dist.Head()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_deploytracker_stream_subscribers",
			Help: "Subscribers attached to the deployment stream (edges, mostly).",
		}, func() float64 { return float64(s.dist.Subscribers()) }),
	}
}
