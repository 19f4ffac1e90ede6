package certmgr

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certbind/certbind/services/certmgr/webhook"
)

// webhookFigures are the webhook dispatcher's metrics (webhook.Metrics).
// Their labels are the event type and the attempt's result, both from
// fixed lists: an account, a webhook or a URL as a label would let tenants
// make series without bound, and would show one tenant's receivers to
// whoever reads the metrics. The per-account view is the delivery log
// (certbind webhook deliveries).
type webhookFigures struct {
	queued   *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	attempts *prometheus.CounterVec
	took     prometheus.Histogram
	now      func() time.Time

	mu      sync.Mutex
	waiting int
	oldest  time.Time
}

func newWebhookFigures(now func() time.Time) *webhookFigures {
	f := &webhookFigures{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certbind_webhook_deliveries_queued_total",
			Help: "Webhook deliveries recorded, by event type: one per event and webhook that wants it.",
		}, []string{"event"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certbind_webhook_deliveries_dropped_total",
			Help: "Webhook deliveries not recorded, by event type, because the account already had as many deliveries waiting as it may have (10000 by default): its receivers fail or are slow.",
		}, []string{"event"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certbind_webhook_attempts_total",
			Help: "Webhook delivery attempts by event type and result: delivered (2xx), retry (failed, will be tried again) or failed (failed for good: attempts spent or webhook gone).",
		}, []string{"event", "result"}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "certbind_webhook_attempt_duration_seconds",
			Help:    "Time each webhook delivery request took, from dialling the receiver to the end of its response (bounded by the attempt timeout, 10 s by default).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		now: now,
	}
	// Every series exists from the start at zero, so that increase() and
	// the alert rules see the first delivery and the first failure.
	for _, e := range webhook.Events {
		f.queued.WithLabelValues(e)
		f.dropped.WithLabelValues(e)
		for _, r := range webhook.Results {
			f.attempts.WithLabelValues(e, r)
		}
	}
	return f
}

func (f *webhookFigures) Queued(event string) { f.queued.WithLabelValues(event).Inc() }

func (f *webhookFigures) Dropped(event string) { f.dropped.WithLabelValues(event).Inc() }

func (f *webhookFigures) Attempted(event, result string) {
	f.attempts.WithLabelValues(event, result).Inc()
}

func (f *webhookFigures) AttemptTook(d time.Duration) { f.took.Observe(d.Seconds()) }

func (f *webhookFigures) Backlog(waiting int, oldest time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting, f.oldest = waiting, oldest
}

func (f *webhookFigures) backlog() (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting, f.oldest
}

// collectors returns the webhook metrics. The backlog gauges read what the
// dispatcher's last pass found (it runs after every change and every
// minute); the age is computed at the scrape, so it keeps growing if the
// passes stall.
func (f *webhookFigures) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		f.queued,
		f.dropped,
		f.attempts,
		f.took,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_webhook_deliveries_pending",
			Help: "Webhook deliveries waiting to be sent or retried (or being sent) at the end of the dispatcher's last pass.",
		}, func() float64 {
			n, _ := f.backlog()
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "certbind_webhook_oldest_pending_age_seconds",
			Help: "Age of the oldest webhook delivery still waiting (since its event was recorded); 0 when none waits. With the default retries a delivery is delivered or failed within about 65 minutes.",
		}, func() float64 {
			n, oldest := f.backlog()
			if n == 0 || oldest.IsZero() {
				return 0
			}
			return max(0, f.now().Sub(oldest).Seconds())
		}),
	}
}
