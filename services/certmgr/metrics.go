package certmgr

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certbind/certbind/services/certmgr/store"
)

// figures are certmgr's own metrics, besides gRPC's. The certificate
// series name accounts, projects and certificates of every account: they
// are for the operator's admin listener, never for an API key.
type figures struct {
	writes    prometheus.Histogram
	published prometheus.Counter
	webhooks  *webhookFigures
}

func newFigures(now func() time.Time) *figures {
	return &figures{
		webhooks: newWebhookFigures(now),
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "certbind_certmgr_store_write_duration_seconds",
			Help:    "Time each write to certmgr's store took, from the call until its transaction committed (group commit wait and fsync included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "certbind_certmgr_stream_changes_published_total",
			Help: "Changes committed and handed to the certificate stream; rate() of it is changes per second.",
		}),
	}
}

// Collectors returns certmgr's metrics, to register on the admin
// listener's registry: store writes (latency), the changelog's head
// revision, the certificate stream (subscribers, changes published), the
// certificates themselves (notAfter of each, counts by state) and webhook
// deliveries.
func (s *Service) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{
		s.figures.writes,
		s.figures.published,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_certmgr_changelog_head_revision",
			Help: "Revision of the last change committed to certmgr's changelog and delivered to the stream.",
		}, func() float64 { return float64(s.dist.Head()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_certmgr_stream_subscribers",
			Help: "Subscribers attached to the certificate stream (edges, mostly).",
		}, func() float64 { return float64(s.dist.Subscribers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_certmgr_certificates_damaged_material",
			Help: "Certificates whose private key did not unseal, or whose chain did not decode, when certmgr last built their material for a stream: they stream without material, routes that use them answer 502, and the log names each, until a rotation in place repairs them.",
		}, func() float64 { return float64(len(s.dist.Damaged())) }),
	}
	out = append(out, s.figures.webhooks.collectors()...)
	// Both stores scan: bbolt's file in short read transactions, etcd's
	// prefix in pages of bounded reads. On etcd every replica reads the
	// same records, so each exports the same series: dashboards and rules
	// take max by their labels across replicas, never the sum.
	if sc, ok := s.store.(certificateScanner); ok {
		out = append(out, certificateCollector{sc})
	}
	return out
}

// certificateScanner is what the certificate figures read: every
// certificate record, a stand-in for one that does not decode.
type certificateScanner interface {
	ScanCertificates(fn func(store.CertificateRecord) error) error
}

// certificateCollector reads every certificate record at each scrape: the
// figures are then those of the store, never of a cache that could drift.
// A scrape reads the records in short reads (ScanCertificates), as
// `certbind admin verify` does, without unsealing any key.
type certificateCollector struct{ store certificateScanner }

var (
	notAfterDesc = prometheus.NewDesc("certbind_certificate_not_after_timestamp_seconds",
		"When each certificate expires (its notAfter), in seconds since the Unix epoch; alert on it minus time().",
		[]string{"account", "project", "name", "id"}, nil)
	certificatesDesc = prometheus.NewDesc("certbind_certificates",
		"Certificates in certmgr's store by state: active, disabled, deleting, or damaged (a record that cannot be read; `certbind admin verify` names it).",
		[]string{"state"}, nil)
)

// certificateStates are counted even at zero, so that a rule comparing
// them always has a series.
var certificateStates = []string{store.StateActive, store.StateDisabled, store.StateDeleting, "damaged"}

func (certificateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- notAfterDesc
	ch <- certificatesDesc
}

func (c certificateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	err := c.store.ScanCertificates(func(r store.CertificateRecord) error {
		cert := r.Certificate
		if cert.Damaged != "" {
			counts["damaged"]++
			return nil
		}
		counts[cert.State]++
		ch <- prometheus.MustNewConstMetric(notAfterDesc, prometheus.GaugeValue, unixSeconds(cert.NotAfter),
			r.Account, r.Project, cert.Name, r.ID)
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(certificatesDesc, err)
		return
	}
	for _, st := range certificateStates {
		ch <- prometheus.MustNewConstMetric(certificatesDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
