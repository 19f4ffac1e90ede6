package storebench

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	res, err := Run(context.Background(), Config{Smoke: true, WorkDir: dir, Log: t.Output()})
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
		// One writer commits every create alone; more may share commits,
		// but a commit holds at most one create per writer.
		if row.CreatesPerCommit < 1 || row.CreatesPerCommit > float64(row.Clients) || (row.Clients == 1 && row.CreatesPerCommit != 1) {
			t.Errorf("row %+v: want 1 create per commit for one writer, and 1 to %d for %d", row, row.Clients, row.Clients)
		}
		if row.Committing <= 0 || row.CommitTime <= 0 {
			t.Errorf("row %+v: want the share of time spent committing and the time per commit", row)
		}
		if _, ok := processCPU(); ok && row.CPUPerCreate <= 0 {
			t.Errorf("row %+v: want the CPU per create where the platform reports it", row)
		}
		// Every create is synced to the file: at least its record is
		// written.
		if res.WritesCounted && row.WrittenPerCreate < 1024 {
			t.Errorf("row %+v: want at least 1 KiB written per create where the platform counts writes", row)
		}
		if !res.WritesCounted && row.WrittenPerCreate != 0 {
			t.Errorf("row %+v: a figure of writes where the platform does not count them", row)
		}
	}
	if countsWrites(t, dir) && !res.WritesCounted {
		t.Errorf("writes to %s are counted here, but the run says they are not", dir)
	}
	if res.FsyncP50 <= 0 || res.FsyncP50 > res.FsyncP99 || res.TogetherP50 <= 0 || res.ScatteredP50 <= 0 {
		t.Errorf("fsync p50 %v p99 %v, 64 pages together %v, scattered %v: want 0 < p50 <= p99 and both 64-page medians",
			res.FsyncP50, res.FsyncP99, res.TogetherP50, res.ScatteredP50)
	}
}

// TestParseWriteBytes checks the reading of /proc/self/io's write_bytes,
// and that any other text gives no figure rather than a wrong one.
func TestParseWriteBytes(t *testing.T) {
	const io = "rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\nread_bytes: 0\nwrite_bytes: 81920\ncancelled_write_bytes: 4096\n"
	if n, ok := parseWriteBytes([]byte(io)); !ok || n != 81920 {
		t.Errorf("parseWriteBytes = %d, %v; want 81920, true", n, ok)
	}
	for _, bad := range []string{
		"",
		"rchar: 6976\nwchar: 12\n",
		"write_bytes: \n",
		"write_bytes: -1\n",
		"write_bytes: 12kB\n",
		"cancelled_write_bytes: 4096\n",
	} {
		if n, ok := parseWriteBytes([]byte(bad)); ok {
			t.Errorf("parseWriteBytes(%q) = %d, true; want no figure", bad, n)
		}
	}
}
