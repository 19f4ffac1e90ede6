package deploytracker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certbind/certbind/services/deploytracker/store"
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
// revision, the deployment stream (subscribers, changes published) and,
// the deployment records that cannot be read (on etcd every replica
// exports the same figure: take max across replicas, never the sum).
func (s *Service) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{
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
	if sc, ok := s.store.(deploymentScanner); ok {
		out = append(out, damagedCollector{sc})
	}
	return out
}

var damagedDesc = prometheus.NewDesc("certbind_deployments_damaged",
	"Deployment records in the deploytracker's store that cannot be read; each is left out of the deployment stream and logged (`certbind admin verify` names them; a redeploy of the environment repairs one).",
	nil, nil)

// deploymentScanner is what the damaged figure reads: every deployment
// record, a stand-in for one that does not decode. Both stores have it.
type deploymentScanner interface {
	ScanDeployments() ([]store.DeploymentRecord, error)
}

// damagedCollector counts the deployment records that do not decode at
// each scrape, reading the store in short reads (transactions on bbolt,
// pages on etcd) as `certbind admin verify` does, so the figure is the store's, never a cache's.
type damagedCollector struct{ store deploymentScanner }

func (damagedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- damagedDesc }

func (c damagedCollector) Collect(ch chan<- prometheus.Metric) {
	recs, err := c.store.ScanDeployments()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(damagedDesc, err)
		return
	}
	n := 0
	for _, r := range recs {
		if r.Deployment.Damaged != "" {
			n++
		}
	}
	ch <- prometheus.MustNewConstMetric(damagedDesc, prometheus.GaugeValue, float64(n))
}
