package propagation

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), Config{Smoke: true, WorkDir: t.TempDir(), Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke run took %v\n%s", time.Since(start), res.Markdown())
	if res.Subscribers != 20 || res.Changes != 3 {
		t.Fatalf("ran %d subscribers and %d changes, want smoke's 20 and 3", res.Subscribers, res.Changes)
	}
	// Run fails unless every subscriber received every change; check that
	// the record agrees.
	if res.Max <= 0 || res.ChangeMax != res.Max || res.P50 > res.P99 || res.P99 > res.Max {
		t.Errorf("delays p50 %v p99 %v max %v, per-change max %v: want 0 < p50 <= p99 <= max = per-change max", res.P50, res.P99, res.Max, res.ChangeMax)
	}
	if res.SentP99 < res.P99 || res.SentMax < res.Max {
		t.Errorf("from the write's start p99 %v max %v, want at least the delays from its acknowledgement (p99 %v max %v)", res.SentP99, res.SentMax, res.P99, res.Max)
	}
	if res.HeapAfter <= res.HeapBefore || res.BytesPerIdleSubscriber <= 0 {
		t.Errorf("heap %d -> %d (%.0f B per subscriber): attaching subscribers should grow it", res.HeapBefore, res.HeapAfter, res.BytesPerIdleSubscriber)
	}
	if res.ServerBytesPerIdleSubscriber <= 0 || res.ServerBytesPerIdleSubscriber >= res.BytesPerIdleSubscriber {
		t.Errorf("server heap per subscriber %.0f B, want between 0 and the total %.0f B", res.ServerBytesPerIdleSubscriber, res.BytesPerIdleSubscriber)
	}
}
