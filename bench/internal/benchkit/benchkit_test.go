package benchkit

import (
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if got := Quantiles(ds, 0.5, 0.99, 1); got[0] != 5 || got[1] != 10 || got[2] != 10 {
		t.Fatalf("Quantiles = %v", got)
	}
	if Quantile(nil, 0.5) != 0 || Quantile([]time.Duration{7}, 0.01) != 7 {
		t.Fatal("edge cases")
	}
}

func TestPKI(t *testing.T) {
	var c *testpki.Cert
	if err := PKI(func(t testing.TB) { c = testpki.NewCA(t, "ok") }); err != nil || c == nil {
		t.Fatalf("good run: %v", err)
	}
	err := PKI(func(t testing.TB) { t.Fatalf("no %s", "luck") })
	if err == nil || !strings.Contains(err.Error(), "no luck") {
		t.Fatalf("failure: %v", err)
	}
}
