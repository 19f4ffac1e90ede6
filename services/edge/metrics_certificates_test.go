package edge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certbind/certbind/services/edge/state"
)

// TestCertificateTrafficSeries: a certificate gets its counters when it
// comes onto the edge, counts requests and failures by reason under its
// labels, and its series go when it leaves or is renamed, so the label
// values are always those of the certificates held.
func TestCertificateTrafficSeries(t *testing.T) {
	m := testMetrics()
	st := state.NewStore()
	st.OnInstall(m.install)
	st.OnPublish(m.certificates)
	put := func(c *state.Certificate) {
		st.Update(func(next *state.Snapshot) { next.Certificates[c.ID] = c })
	}
	a := &state.Certificate{ID: "crt_a", Account: "acme", Project: "shop", Name: "certA", Kind: "client"}
	b := &state.Certificate{ID: "crt_b", Account: "other", Project: "web", Name: "certB", Kind: "client"}
	put(a)
	put(b)
	if a.Traffic == nil || b.Traffic == nil {
		t.Fatal("installed certificates have no Traffic")
	}
	a.Traffic.Request()
	a.Traffic.Request()
	a.Traffic.Failed("backend_rejected_client_certificate", true)
	b.Traffic.Request()
	b.Traffic.Failed("certificate_unavailable", false)

	for _, tc := range []struct {
		got  float64
		what string
		want float64
	}{
		{testutil.ToFloat64(m.certRequests.WithLabelValues("crt_a", "acme", "shop", "certA")), "requests of certA", 2},
		{testutil.ToFloat64(m.certErrors.WithLabelValues("crt_a", "acme", "shop", "certA", "backend_rejected_client_certificate")), "rejections of certA", 1},
		{testutil.ToFloat64(m.certHandshakes.WithLabelValues("crt_a", "acme", "shop", "certA", "backend_rejected_client_certificate")), "handshake failures of certA", 1},
		{testutil.ToFloat64(m.certRequests.WithLabelValues("crt_b", "other", "web", "certB")), "requests of certB", 1},
		{testutil.ToFloat64(m.certErrors.WithLabelValues("crt_b", "other", "web", "certB", "certificate_unavailable")), "unavailable answers of certB", 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.certHandshakes); n != 1 {
		t.Errorf("handshake failure series = %d, want 1 (certificate_unavailable is no handshake)", n)
	}

	// A new version under a new name replaces the old name's series.
	a2 := &state.Certificate{ID: "crt_a", Account: "acme", Project: "shop", Name: "certA2", Kind: "client", Version: 2}
	put(a2)
	a2.Traffic.Request()
	if n := testutil.CollectAndCount(m.certRequests); n != 2 {
		t.Errorf("request series after the rename = %d, want 2 (certA2 and certB)", n)
	}
	if n := testutil.CollectAndCount(m.certErrors); n != 1 {
		t.Errorf("error series after the rename = %d, want 1 (certB's; certA's went with its name)", n)
	}

	// A certificate that leaves the edge leaves no series behind.
	st.Update(func(next *state.Snapshot) { delete(next.Certificates, "crt_b") })
	if n := testutil.CollectAndCount(m.certErrors); n != 0 {
		t.Errorf("error series after certB left = %d, want 0", n)
	}
	if n := testutil.CollectAndCount(m.certRequests); n != 1 {
		t.Errorf("request series after certB left = %d, want 1", n)
	}
	// The same certificate object published again keeps its counters.
	before := a2.Traffic
	st.Update(func(next *state.Snapshot) {})
	if a2.Traffic != before {
		t.Error("a certificate already published got new counters")
	}
}

// BenchmarkCertificateRequest is what counting a request under its
// certificate costs on the request path.
func BenchmarkCertificateRequest(b *testing.B) {
	m := testMetrics()
	c := &state.Certificate{ID: "crt_a", Account: "acme", Project: "shop", Name: "certA"}
	m.install(c)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Traffic.Request()
		}
	})
}
