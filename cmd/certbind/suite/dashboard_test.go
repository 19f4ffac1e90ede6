package suite_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/testpki"
)

// deployDir is the repository's deploy/ directory.
var deployDir = filepath.Join("..", "..", "..", "deploy")

// dashboard is what of a Grafana dashboard the check reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// queries returns every PromQL expression of the shipped Grafana dashboard
// (its panels' and its variables'), by where it is.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "certbind.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("deploy/grafana/certbind.json is not JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("the dashboard has no title or uid")
	}
	out := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out["variable "+v.Name] = v.Definition
		}
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %q (%s) has no title or no query", p.Title, p.Type)
		}
		for i, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q query %d is empty", p.Title, i)
			}
			if q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %d reads data source %q, not the dashboard's ${datasource} variable", p.Title, i, q.Datasource.UID)
			}
			out["panel "+p.Title+" #"+string(rune('A'+i))] = q.Expr
		}
	}
	if len(out) < 10 {
		t.Fatalf("the dashboard has %d queries; did it lose its panels?", len(out))
	}
	return out
}

// ruleQueries returns every expr of the shipped Prometheus rules, by rule.
func ruleQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "certbind-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	name := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "- alert:"), strings.HasPrefix(line, "- record:"):
			name = strings.TrimSpace(line[strings.Index(line, ":")+1:])
		case strings.HasPrefix(line, "expr:"):
			expr := strings.TrimSpace(strings.TrimPrefix(line, "expr:"))
			if expr == "" || expr == "|" || expr == ">" {
				t.Fatalf("rule %s: a multi-line expr; extend this check to read it", name)
			}
			out["rule "+name] = expr
		}
	}
	if len(out) < 5 {
		t.Fatalf("read %d rules from certbind-rules.yml; did its layout change?", len(out))
	}
	return out
}

var (
	// metricName matches the names of certbind's series and the gRPC
	// ones in a query from which labelContext took the label names out.
	metricName   = regexp.MustCompile(`\b(?:certbind|grpc)_[a-z0-9_]+`)
	labelContext = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)`)
	// byLabels matches the labels of a by (...) or without (...) clause,
	// selectorLabels the label names in a {...} matcher.
	byLabels       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	selectorLabels = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)\s*"`)
)

// TestDashboardAndRulesUseRealMetrics reads every query of the Grafana
// dashboard in deploy/grafana and of the alert rules in deploy/prometheus,
// and checks each metric they name is one the services really export, and
// each label they group or match on is one of its labels: it runs the
// suite, makes traffic that produces every family (uploads, deploys, a
// backend that rejects a certificate, a refused path) and scrapes the
// services' and the edge's /metrics.
func TestDashboardAndRulesUseRealMetrics(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s := start(t, admin)
	p := newPKI(t)
	backend := e2etest.MTLSBackend(t, p.backendCert, p.clientCA)
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	upload(t, s, "goodCert", p.clientCA.Issue(t, testpki.Options{CommonName: "good"}))
	upload(t, s, "strangerCert", testpki.NewCA(t, "Stranger CA").Issue(t, testpki.Options{CommonName: "stranger"}))
	url := s.EdgeURL + "/acme/shop/production/api/x"
	deploy(t, s, backend.URL, nil, "goodCert")
	e2etest.Eventually(t, url, 200, "CN=good")
	deploy(t, s, backend.URL, nil, "strangerCert")
	e2etest.Eventually(t, url, 502, "backend_rejected_client_certificate")
	resp, err := http.Get(s.EdgeURL + "/acme/shop/production/api/%2e%2e/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a path leaving the route: %d, want 400", resp.StatusCode)
	}

	// Webhook deliveries: one receiver on loopback that answers, one that
	// fails (certbind dev accepts http:// to loopback).
	hooked := webhookTraffic(t, s, admin)
	upload(t, s, "hookedCert", p.clientCA.Issue(t, testpki.Options{CommonName: "hooked"}))
	hooked.waitDelivered(t, s)

	// Every family's labels, from both admin listeners.
	labels := map[string][]string{}
	for _, url := range []string{s.MetricsURL + "/metrics", s.EdgeAdminURL + "/metrics"} {
		for name, f := range e2etest.Scrape(t, url) {
			var names []string
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if !slices.Contains(names, l.GetName()) {
						names = append(names, l.GetName())
					}
				}
			}
			if f.GetType().String() == "HISTOGRAM" {
				names = append(names, "le")
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					labels[name+suffix] = names
				}
			}
			labels[name] = append(labels[name], names...)
		}
	}
	queries := dashboardQueries(t)
	for where, expr := range ruleQueries(t) {
		queries[where] = expr
	}
	for where, expr := range queries {
		names := metricName.FindAllString(labelContext.ReplaceAllString(expr, ""), -1)
		if len(names) == 0 {
			t.Errorf("%s: names no certbind or gRPC metric: %s", where, expr)
		}
		// Prometheus adds instance and job to every series it scrapes.
		known := []string{"instance", "job"}
		for _, n := range names {
			l, ok := labels[n]
			if !ok {
				t.Errorf("%s: no service exports %s (query: %s)", where, n, expr)
			}
			known = append(known, l...)
		}
		var used []string
		for _, m := range byLabels.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					used = append(used, l)
				}
			}
		}
		for _, m := range selectorLabels.FindAllStringSubmatch(expr, -1) {
			used = append(used, m[1])
		}
		for _, l := range used {
			if !slices.Contains(known, l) {
				t.Errorf("%s: label %q is not a label of %v (query: %s)", where, l, names, expr)
			}
		}
	}
}

// hookReceivers are two webhook receivers on loopback: one answers 204,
// the other 503.
type hookReceivers struct {
	ok, failing *httptest.Server
	hits        atomic.Int64
}

// webhookTraffic creates two webhooks of account acme for
// certificate.created, one per receiver.
func webhookTraffic(t *testing.T, s *suite.Suite, admin string) *hookReceivers {
	t.Helper()
	h := &hookReceivers{}
	h.ok = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	h.failing = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(h.ok.Close)
	t.Cleanup(h.failing.Close)
	for name, srv := range map[string]*httptest.Server{"dashOk": h.ok, "dashFailing": h.failing} {
		r := call(t, s, admin, "POST", "/v1/accounts/acme/webhooks", map[string]any{"name": name, "url": srv.URL, "events": []string{"certificate.created"}})
		if r.status != 200 {
			t.Fatalf("create webhook %s: %d %s", name, r.status, r.raw)
		}
	}
	return h
}

// waitDelivered waits until certmgr's metrics count a delivered attempt
// and a retry: the dispatcher sends in the background, after each change.
func (h *hookReceivers) waitDelivered(t *testing.T, s *suite.Suite) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m := e2etest.Scrape(t, s.MetricsURL+"/metrics")
		ok, _ := m.Value("certbind_webhook_attempts_total", map[string]string{"event": "certificate.created", "result": "delivered"})
		retry, _ := m.Value("certbind_webhook_attempts_total", map[string]string{"event": "certificate.created", "result": "retry"})
		if ok >= 1 && retry >= 1 && h.hits.Load() >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered and retried webhook attempt in the metrics after a minute (delivered %v, retry %v, receiver hits %d)", ok, retry, h.hits.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
