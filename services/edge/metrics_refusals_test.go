package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/edge/watch"
)

// TestRefusalsMetric counts refusals by reason on /metrics: those the
// HTTP server reports (Refused) and those of the proxy's own rules.
func TestRefusalsMetric(t *testing.T) {
	e := testEdge("status-key", watch.Scope{})
	e.Refused("conns_per_ip")
	e.Refused("conns_per_ip")
	e.metrics.Refused("loop_detected")

	rec := httptest.NewRecorder()
	e.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`certbind_edge_refusals_total{reason="conns_per_ip"} 2`,
		`certbind_edge_refusals_total{reason="loop_detected"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
