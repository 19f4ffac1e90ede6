package edge

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/certbind/certbind/services/edge/watch"
)

func testMetrics() *metrics {
	return newMetrics(func() []watch.Status { return []watch.Status{{}, {}} })
}

// TestRequestMetrics counts requests by route and status, and backend
// latency by route only for requests that reached a backend.
func TestRequestMetrics(t *testing.T) {
	m := testMetrics()
	m.Request("/api/*", 200, 3*time.Millisecond)
	m.Request("/api/*", 200, 5*time.Millisecond)
	m.Request("/api/*", 502, 0)
	m.Request("", 404, 0)
	m.Request("/users/{id}", 200, time.Millisecond)
	for _, tc := range []struct {
		route, code string
		want        float64
	}{{"/api/*", "200", 2}, {"/api/*", "502", 1}, {"", "404", 1}, {"/users/{id}", "200", 1}, {"/users/{id}", "502", 0}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tc.route, tc.code)); got != tc.want {
			t.Errorf("requests{route=%q,code=%q} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	// Two routes reached a backend; the 404 and the 502 did not.
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("latency series = %d, want 2 (one per route that reached a backend)", n)
	}
	if got := histogramCount(t, m, "/api/*"); got != 2 {
		t.Errorf("latency count for /api/* = %d, want 2", got)
	}
}

func histogramCount(t *testing.T, m *metrics, route string) uint64 {
	t.Helper()
	var out dto.Metric
	if err := m.latency.WithLabelValues(route).(prometheus.Histogram).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount()
}

// BenchmarkRequestMetrics is what recording a request costs on the request
// path.
func BenchmarkRequestMetrics(b *testing.B) {
	m := testMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request("/api/*", 200, time.Millisecond)
		}
	})
}
