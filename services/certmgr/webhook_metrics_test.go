package certmgr_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/certbind/certbind/internal/metrics"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// serveMetrics serves the service's metrics as certmgr's admin listener
// does, on a loopback port, and returns the /metrics URL.
func serveMetrics(t *testing.T, s *server) string {
	t.Helper()
	reg := metrics.New()
	reg.MustRegister(s.svc.Collectors()...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := reg.Server()
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String() + "/metrics"
}

type scraped map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, url string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the series of name with exactly labels: a counter's or gauge's
// value, a histogram's count.
func (m scraped) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	f := m[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	for _, s := range f.GetMetric() {
		if len(s.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range s.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue()
		case s.Gauge != nil:
			return s.GetGauge().GetValue()
		case s.Histogram != nil:
			return float64(s.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s %v", name, labels)
	return 0
}

// Real deliveries to three real HTTPS receivers on loopback, one that
// answers, one that fails once and then answers, one that always fails,
// show in certmgr's /metrics: deliveries queued, attempts by result, their
// durations, and the backlog with the age of its oldest delivery.
func TestWebhookMetrics(t *testing.T) {
	clk := &clock{t: time.Now()}
	good, flaky, dead := newReceiver(t, 0), newReceiver(t, 1), newReceiver(t, 1000)
	roots := good.pool()
	roots.AddCert(flaky.srv.Certificate())
	roots.AddCert(dead.srv.Certificate())
	s := startServer(t, withWebhooks(t, clk, roots), func(cfg *certmgr.Config) { cfg.Webhooks.MaxAttempts = 2 })
	url := serveMetrics(t, s)

	// Before any webhook, every series is there at zero.
	m := scrapeMetrics(t, url)
	for _, e := range webhook.Events {
		if v := m.value(t, "certbind_webhook_deliveries_queued_total", map[string]string{"event": e}); v != 0 {
			t.Fatalf("queued %s = %v before anything happened", e, v)
		}
		for _, r := range webhook.Results {
			if v := m.value(t, "certbind_webhook_attempts_total", map[string]string{"event": e, "result": r}); v != 0 {
				t.Fatalf("attempts %s %s = %v before anything happened", e, r, v)
			}
		}
	}

	for name, r := range map[string]*receiver{"good": good, "flaky": flaky, "dead": dead} {
		if _, err := s.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: name,
			Url: r.srv.URL, Events: []string{webhook.EventCreated}}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := clientUpload(t, "watched")
	if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	s.pass()
	clk.advance(10 * time.Minute)
	created := map[string]string{"event": webhook.EventCreated}
	attempts := func(result string) map[string]string {
		return map[string]string{"event": webhook.EventCreated, "result": result}
	}
	m = scrapeMetrics(t, url)
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"certbind_webhook_deliveries_queued_total", created, 3},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultDelivered), 1},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultRetry), 2},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultFailed), 0},
		{"certbind_webhook_attempt_duration_seconds", nil, 3},
		{"certbind_webhook_deliveries_pending", nil, 2},
		// The two waiting were recorded at the pass, ten minutes ago on
		// the service's clock.
		{"certbind_webhook_oldest_pending_age_seconds", nil, 600},
	} {
		if got := m.value(t, w.name, w.labels); got != w.want {
			t.Errorf("after the first pass: %s %v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}

	// The second attempt: the flaky receiver answers, the dead one's
	// delivery is failed for good (2 attempts).
	clk.advance(2 * time.Hour)
	s.pass()
	m = scrapeMetrics(t, url)
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"certbind_webhook_deliveries_queued_total", created, 3},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultDelivered), 2},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultRetry), 2},
		{"certbind_webhook_attempts_total", attempts(webhook.ResultFailed), 1},
		{"certbind_webhook_attempts_total", map[string]string{"event": webhook.EventDeleted, "result": webhook.ResultFailed}, 0},
		{"certbind_webhook_attempt_duration_seconds", nil, 5},
		{"certbind_webhook_deliveries_pending", nil, 0},
		{"certbind_webhook_oldest_pending_age_seconds", nil, 0},
	} {
		if got := m.value(t, w.name, w.labels); got != w.want {
			t.Errorf("after the second pass: %s %v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if n := len(good.requests()) + len(flaky.requests()) + len(dead.requests()); n != 5 {
		t.Errorf("receivers got %d requests, want 5", n)
	}
	for _, f := range m {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "account" && f.GetName() != "certbind_certificate_not_after_timestamp_seconds" {
					t.Errorf("%s has an account label", f.GetName())
				}
			}
		}
	}
}
