package habench

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the result as the bench report's HA section body.
func (r *Result) Markdown() string {
	if r.Skipped != "" {
		return "Skipped: " + r.Skipped + ".\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "A 3-member etcd cluster (`%s`, real processes with fsync, on 127.0.0.1), certmgr replicas in the bench's process; bbolt beside it.\n\n", r.Etcd)
	b.WriteString("Certificate creates through certmgr's API:\n\n")
	b.WriteString("| clients | etcd creates/s | etcd p50 | etcd p99 | bbolt creates/s | bbolt p50 | bbolt p99 |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %d | %.0f | %s | %s | %.0f | %s | %s |\n", row.Clients,
			row.Etcd.PerSec, ms(row.Etcd.P50), ms(row.Etcd.P99), row.Bolt.PerSec, ms(row.Bolt.P50), ms(row.Bolt.P99))
	}
	b.WriteString("\nThe etcd leader killed with SIGKILL while one client creates (a create sent after the kill is retried until one succeeds; bbolt has no such failure to compare):\n\n")
	b.WriteString("| kill | writes unavailable | failed creates |\n|---:|---:|---:|\n")
	for i, k := range r.Kills {
		fmt.Fprintf(&b, "| %d | %s | %d |\n", i+1, ms(k.Unavailable), k.Failed)
	}
	p, bp := r.Propagation, r.BoltPropagation
	fmt.Fprintf(&b, "\nPropagation of %d changes to %d subscribers, from the write's acknowledgement to each subscriber's receipt:\n\n", p.Changes, p.Subscribers)
	b.WriteString("| store | subscribers on | p50 | p99 | max | change to its last subscriber, p99 |\n|---|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| etcd | 2 replicas (written through the first) | %s | %s | %s | %s |\n", ms(p.P50), ms(p.P99), ms(p.Max), ms(p.ChangeP99))
	fmt.Fprintf(&b, "| bbolt | 1 certmgr | %s | %s | %s | %s |\n", ms(bp.P50), ms(bp.P99), ms(bp.Max), ms(bp.ChangeP99))
	fmt.Fprintf(&b, "\nSizing: a replica's watch cache of %d certificates added %.1f MiB of live heap (%.2f MiB per 1,000); etcd's database was %.1f MiB with about %d certificates (and their history until compaction).\n",
		r.CacheCerts, mib(r.CacheBytes), mib(r.CacheBytes)/float64(max(r.CacheCerts, 1))*1000, mib(r.DBSize), r.DBCerts)
	return b.String()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
