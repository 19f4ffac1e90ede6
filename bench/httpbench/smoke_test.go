package httpbench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every setup this machine has (direct and the edge always,
// nginx and caddy when installed; it never installs them) for a moment and
// checks that each answered every request. It says nothing about speed.
// The baseline is HEAD, built from git as any revision would be.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the suite and the installed proxies")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var log strings.Builder
	start := time.Now()
	res, err := Run(ctx, Config{Smoke: true, Concurrency: []int{4}, WorkDir: t.TempDir(), Log: &log, Baseline: "HEAD"})
	t.Logf("log:\n%s", log.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("smoke took %s", time.Since(start).Round(time.Millisecond))

	measured := map[string]bool{}
	for _, row := range res.Rows {
		measured[row.Setup] = true
		if row.Errors != 0 || row.Requests == 0 {
			t.Errorf("%s %s: %d requests, %d errors (first: %s)", row.Setup, row.Size, row.Requests, row.Errors, row.FirstError)
		}
		if row.Concurrency != 4 {
			t.Errorf("%s %s ran with %d clients, want 4", row.Setup, row.Size, row.Concurrency)
		}
	}
	skipped := map[string]bool{}
	for _, s := range res.Skipped {
		skipped[s.Setup] = true
		if !strings.Contains(s.Reason, "not installed") {
			t.Errorf("%s skipped for an unclear reason: %q", s.Setup, s.Reason)
		}
	}
	for _, s := range Setups {
		if measured[s] == skipped[s] {
			t.Errorf("%s: measured %v, skipped %v; want exactly one", s, measured[s], skipped[s])
		}
	}
	if !measured[SetupDirect] || !measured[SetupEdge] || !measured[SetupBaseline] {
		t.Fatalf("direct, edge and the baseline must always run; measured %v", measured)
	}
	if got, want := len(res.Rows), len(measured)*len(Sizes); got != want {
		t.Errorf("%d rows, want %d (every size of every measured setup)", got, want)
	}
	if md := res.Markdown(); !strings.Contains(md, "| certbind edge | 4 |") {
		t.Errorf("Markdown lacks the edge's row:\n%s", md)
	} else if !strings.Contains(md, "edge/baseline req/s") {
		t.Errorf("Markdown lacks the table of the edge against its baseline:\n%s", md)
	}
}
