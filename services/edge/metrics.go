package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// metrics is the edge's Prometheus registry. Label values are bounded by
// what is deployed (routes, backends, certificates), never by request data.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	handshakes *prometheus.CounterVec
	versions   *prometheus.GaugeVec
	refusals   *prometheus.CounterVec
	// unavailable counts the certificates held without usable material.
	unavailable *prometheus.GaugeVec
	// The traffic of each certificate the edge holds; see certTraffic.
	certRequests, certErrors, certHandshakes *prometheus.CounterVec
	// held is the label set each certificate's series were made with, by
	// id. Only the store's writer touches it (install and publish), one
	// update at a time.
	held map[string]prometheus.Labels
}

func newMetrics(streams func() []watch.Status) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certbind_edge_requests_total", Help: "Requests served, by route and HTTP status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "certbind_edge_backend_latency_seconds", Help: "Time from sending a request to a backend until its response headers.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certbind_edge_backend_tls_handshakes_total", Help: "TLS handshakes with backends; resumed ones reuse a session.",
		}, []string{"backend", "resumed"}),
		versions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certbind_edge_certificate_version", Help: "Version of each certificate the edge holds.",
		}, []string{"certificate_id", "name"}),
	}
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certbind_edge_refusals_total",
		Help: "Connections and requests a safety rule refused, by reason: conns_total, conns_per_ip, body_too_slow, framing, framing_close (h1), and path_not_allowed, loop_detected, backend_refused_by_policy, backend_busy, request_body_too_large, request_body_too_slow (proxy).",
	}, []string{"reason"})
	// Its label is one of two fixed reasons; which certificates they are is
	// in the status and the log, not in a label per certificate.
	m.unavailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "certbind_edge_certificates_unavailable",
		Help: "Certificates the edge holds without usable material, by reason: damaged (certmgr could not read or unseal it) or invalid_material (it did not decode here). Routes that use them answer 502; /v1/status names them.",
	}, []string{"reason"})
	// Labels name certificates the edge holds, and nothing else: a
	// certificate's series go when it leaves the edge (certificates), so
	// their number is bounded by the certificates in scope, times the
	// fixed few reasons.
	certLabels := []string{"certificate_id", "account", "project", "name"}
	m.certRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certbind_edge_certificate_requests_total",
		Help: "Requests of routes that name the certificate (mtlsCertificate or caCertificate), whatever the answer.",
	}, certLabels)
	m.certErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certbind_edge_certificate_errors_total",
		Help: "Requests of routes that name the certificate which the edge answered with an error of its own, by the answer's error code: certificate_unavailable, backend_rejected_client_certificate, backend_certificate_not_trusted, backend_tls_failed, backend_unreachable, backend_timeout, backend_busy, backend_refused_by_policy, mtls_requires_https, backend_upgrade_failed.",
	}, append(certLabels, "reason"))
	m.certHandshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "certbind_edge_certificate_backend_handshake_failures_total",
		Help: "TLS handshakes with a backend that failed for a request presenting or trusting the certificate, by reason: backend_rejected_client_certificate (the backend refused the client certificate), backend_certificate_not_trusted, backend_tls_failed.",
	}, append(certLabels, "reason"))
	m.held = map[string]prometheus.Labels{}
	m.reg.MustRegister(m.requests, m.latency, m.handshakes, m.versions, m.refusals, m.unavailable, m.certRequests, m.certErrors, m.certHandshakes)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_certificate_stream_revision", Help: "Last certificate stream revision applied.",
	}, func() float64 { return float64(streams()[0].Revision) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_deployment_stream_revision", Help: "Last deployment stream revision applied.",
	}, func() float64 { return float64(streams()[1].Revision) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "certbind_edge_stream_lag_seconds", Help: "Seconds since the quieter stream last sent anything (heartbeats included); grows while a stream is down.",
	}, func() float64 {
		var worst float64
		for _, s := range streams() {
			if s.LastEvent.IsZero() {
				continue
			}
			worst = max(worst, time.Since(s.LastEvent).Seconds())
		}
		return worst
	}))
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request records one served request.
func (m *metrics) Request(route string, code int, backend time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	if backend > 0 {
		m.latency.WithLabelValues(route).Observe(backend.Seconds())
	}
}

// Refused records one refusal. The reasons are the fixed codes of h1 and
// proxy, never request data, so the label stays bounded.
func (m *metrics) Refused(reason string) {
	m.refusals.WithLabelValues(reason).Inc()
}

// Handshake records one TLS handshake with a backend.
func (m *metrics) Handshake(backend string, resumed bool) {
	m.handshakes.WithLabelValues(backend, strconv.FormatBool(resumed)).Inc()
}

// certTraffic is a certificate's state.Traffic: its request counter is
// resolved once, when the certificate is installed, so a request only adds
// to it. Errors are rare and resolve their series as they come.
type certTraffic struct {
	m        *metrics
	labels   [4]string // certificate_id, account, project, name
	requests prometheus.Counter
}

func (t *certTraffic) Request() { t.requests.Inc() }

func (t *certTraffic) Failed(code string, handshake bool) {
	l := t.labels
	t.m.certErrors.WithLabelValues(l[0], l[1], l[2], l[3], code).Inc()
	if handshake {
		t.m.certHandshakes.WithLabelValues(l[0], l[1], l[2], l[3], code).Inc()
	}
}

// install gives a certificate coming onto the edge its counters
// (state.Store.OnInstall).
func (m *metrics) install(c *state.Certificate) {
	t := &certTraffic{m: m, labels: [4]string{c.ID, c.Account, c.Project, c.Name}}
	t.requests = m.certRequests.WithLabelValues(t.labels[:]...)
	c.Traffic = t
}

// forget removes the series of certificates that left the edge, or that
// now go by other labels (a new name), so that the label values are always
// those of the certificates held.
func (m *metrics) forget(s *state.Snapshot) {
	for id, labels := range m.held {
		c := s.Certificates[id]
		if c != nil && labels["account"] == c.Account && labels["project"] == c.Project && labels["name"] == c.Name {
			continue
		}
		for _, v := range []*prometheus.CounterVec{m.certRequests, m.certErrors, m.certHandshakes} {
			v.DeletePartialMatch(labels)
		}
		delete(m.held, id)
	}
	for id, c := range s.Certificates {
		if _, ok := m.held[id]; !ok {
			m.held[id] = prometheus.Labels{"certificate_id": id, "account": c.Account, "project": c.Project, "name": c.Name}
		}
	}
}

// certificates sets the version gauge from a snapshot and drops the
// traffic series of certificates no longer held.
func (m *metrics) certificates(s *state.Snapshot) {
	m.forget(s)
	m.versions.Reset()
	counts := map[string]int{"damaged": 0, "invalid_material": 0}
	for _, c := range s.Certificates {
		m.versions.WithLabelValues(c.ID, c.Name).Set(float64(c.Version))
		if c.UnavailableReason != "" {
			counts[c.UnavailableReason]++
		}
	}
	for reason, n := range counts {
		m.unavailable.WithLabelValues(reason).Set(float64(n))
	}
}
