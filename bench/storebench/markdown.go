package storebench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/certbind/certbind/internal/serve"
)

// Markdown renders r as two tables, through the API and calling the store
// directly, with the disk's fsync latency below.
func (r *Result) Markdown() string {
	var b strings.Builder
	b.WriteString("Through certmgr's gRPC API (each client on its own connection, dialled as certbind's services dial certmgr, with fixed flow-control windows):\n\n")
	writeRows(&b, r.Rows, "clients")
	fmt.Fprintf(&b, "\nfsync on the same disk: one 4 KiB page written and synced (fdatasync) takes p50 %s, p99 %s; 64 pages take p50 %s written together, and p50 %s written one by one at scattered places, as a commit writes them. A bbolt commit syncs twice.\n", ms(r.FsyncP50), ms(r.FsyncP99), ms(r.TogetherP50), ms(r.ScatteredP50))
	fmt.Fprintf(&b, "\nCPU /create is the user and system CPU time of the bench process per create, certmgr and its gRPC clients together (they share the process, its garbage collector target %s). The CPU-bound ceiling is the machine's %d CPUs divided by it: no grouping of commits gets past it. Written /create is what the process wrote to storage per create (write_bytes of /proc/self/io). Creates /commit is how many creates shared a store transaction, and its two syncs, on average: the writers of one group come back while the next group commits, so they wait for the one after it, and n busy writers tend to form two alternating groups of about n/2. Committing is the share of the row's time the store was committing a group, from building its transaction to its second sync, and per commit is how long a group took: near 100%%, groups commit back to back, so creates/s is creates /commit divided by per commit, and a group takes longer the more creates it holds. bbolt writes whole 4 KiB pages, each where the file has room, so a commit costs by the page, as the scattered probe shows. A create adds a record to the certificate tree, an entry to the changelog and a name to the name index. Certificate ids begin with the time they were made and changelog entries are numbered, so a group's records and entries go to the end of their trees together; names land where they sort, a leaf each.\n", gcTarget(), runtime.NumCPU())
	if len(r.StoreRows) > 0 {
		b.WriteString("\nThe store alone, its writers calling it directly (no gRPC, no checks of the material, no sealing): what grouping commits gives without the API's CPU cost. Groups commit one after another (a group's transaction is built, written and synced before the next begins), so that serial work per group bounds it, not the CPUs.\n\n")
		writeRows(&b, r.StoreRows, "writers")
	}
	return b.String()
}

// writeRows writes a table of rows, with each row's rate against the first
// one's when that has a single client.
func writeRows(b *strings.Builder, rows []Row, who string) {
	fmt.Fprintf(b, "| %s | creates | creates/s | ÷ 1 | p50 | p99 | creates /commit | committing | per commit | CPU /create | CPU-bound ceiling | written /create |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", who)
	var base float64
	for i, row := range rows {
		if i == 0 && row.Clients == 1 {
			base = row.CreatesPerSec
		}
		ratio, group, busy, per, cpu, ceiling, written := "-", "-", "-", "-", "-", "-", "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.1f×", row.CreatesPerSec/base)
		}
		if row.CreatesPerCommit > 0 {
			group = fmt.Sprintf("%.1f", row.CreatesPerCommit)
			busy = fmt.Sprintf("%.0f%%", 100*row.Committing)
			per = ms(row.CommitTime)
		}
		if row.CPUPerCreate > 0 {
			cpu = fmt.Sprintf("%.0f µs", float64(row.CPUPerCreate)/float64(time.Microsecond))
			ceiling = fmt.Sprintf("%.0f/s", float64(runtime.NumCPU())*float64(time.Second)/float64(row.CPUPerCreate))
		}
		if row.WrittenPerCreate > 0 {
			written = fmt.Sprintf("%.1f KiB", float64(row.WrittenPerCreate)/1024)
		}
		fmt.Fprintf(b, "| %d | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Clients, row.Creates, row.CreatesPerSec, ratio, ms(row.P50), ms(row.P99), group, busy, per, cpu, ceiling, written)
	}
}

// gcTarget says which garbage collector target the run had: the one
// certbind's mains set (serve.TuneGC), unless GOGC set another.
func gcTarget() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "GOGC=" + v + ", from the environment"
	}
	return fmt.Sprintf("%d, as certbind's mains set it", serve.GCPercent)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
