package storebench

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders r as a small table, with the disk's fsync latency below.
func (r *Result) Markdown() string {
	var b strings.Builder
	b.WriteString("| clients | creates | creates/s | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %d | %d | %.0f | %s | %s |\n", row.Clients, row.Creates, row.CreatesPerSec, ms(row.P50), ms(row.P99))
	}
	fmt.Fprintf(&b, "\nfsync (4 KiB write + fdatasync) on the same disk: p50 %s, p99 %s; a bbolt commit syncs twice.\n", ms(r.FsyncP50), ms(r.FsyncP99))
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
