package habench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmoke runs the section briefly on a real 3-member cluster, with the
// etcd that `make etcd` builds; without it the test is skipped, and Run
// itself must say it skipped.
func TestSmoke(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", ".bin", "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no %s (make etcd builds it)", bin)
	}
	res, err := Run(context.Background(), Config{Etcd: bin, Smoke: true, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != "" {
		t.Fatalf("skipped with an etcd binary: %s", res.Skipped)
	}
	if len(res.Rows) != 2 || res.Rows[0].Etcd.Creates == 0 || res.Rows[1].Bolt.Creates == 0 {
		t.Errorf("creates rows: %+v", res.Rows)
	}
	if len(res.Kills) != 1 || res.Kills[0].Unavailable <= 0 {
		t.Errorf("leader kills: %+v", res.Kills)
	}
	if p := res.Propagation; p == nil || p.Subscribers != 20 || p.Changes != 3 {
		t.Errorf("propagation over replicas: %+v", p)
	}
	if res.DBSize <= 0 || res.CacheCerts <= 0 {
		t.Errorf("sizing: db %d bytes, cache of %d certificates", res.DBSize, res.CacheCerts)
	}
	if md := res.Markdown(); !strings.Contains(md, "| 32 |") || !strings.Contains(md, "2 replicas") {
		t.Errorf("markdown lacks its rows:\n%s", md)
	}
}

func TestSkipsWithoutEtcd(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Chdir(t.TempDir())
	res, err := Run(context.Background(), Config{Smoke: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped == "" || !strings.HasPrefix(res.Markdown(), "Skipped: no etcd binary") {
		t.Errorf("without etcd: %+v, markdown %q", res, res.Markdown())
	}
}
