package storebench

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
	for _, rows := range [][]Row{res.Rows, res.StoreRows} {
		if len(rows) != 2 || rows[0].Clients != 1 || rows[1].Clients != 4 {
			t.Fatalf("rows %+v, want smoke's 1 and 4 clients", rows)
		}
	}
	for _, row := range append(res.Rows, res.StoreRows...) {
		if row.Creates <= 0 || row.CreatesPerSec <= 0 || row.P50 <= 0 || row.P50 > row.P99 {
			t.Errorf("row %+v: want creates, a rate and 0 < p50 <= p99", row)
		}
		if _, ok := processCPU(); ok && row.CPUPerCreate <= 0 {
			t.Errorf("row %+v: want the CPU per create where the platform reports it", row)
		}
	}
	if res.FsyncP50 <= 0 || res.FsyncP50 > res.FsyncP99 {
		t.Errorf("fsync p50 %v p99 %v: want 0 < p50 <= p99", res.FsyncP50, res.FsyncP99)
	}
}
