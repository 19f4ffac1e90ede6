package propagation

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders r as a small table with a line on how it was measured.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Propagation of %d changes to %d subscribers (%d client connections, up to %d streams each):\n\n", r.Changes, r.Subscribers, r.Conns, streamsPerConn)
	b.WriteString("| measure | p50 | p99 | max |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| delay per (change, subscriber) | %s | %s | %s |\n", ms(r.P50), ms(r.P99), ms(r.Max))
	fmt.Fprintf(&b, "| delay to the last subscriber, per change | %s | %s | %s |\n", ms(r.ChangeP50), ms(r.ChangeP99), ms(r.ChangeMax))
	fmt.Fprintf(&b, "| delay per (change, subscriber), from the write's start | %s | %s | %s |\n", ms(r.SentP50), ms(r.SentP99), ms(r.SentMax))
	b.WriteString("\n| memory per idle subscriber | bytes |\n|---|---|\n")
	fmt.Fprintf(&b, "| heap, server + client (same process) | %.0f |\n", r.BytesPerIdleSubscriber)
	fmt.Fprintf(&b, "| heap, server side only (by allocation site) | %.0f |\n", r.ServerBytesPerIdleSubscriber)
	fmt.Fprintf(&b, "| goroutine stacks, server + client | %.0f |\n", r.StackBytesPerIdleSubscriber)
	fmt.Fprintf(&b, "\nDelays run to the subscriber's receipt from the write's acknowledgement unless said otherwise; %d of %d receipts beat the acknowledgement and count as 0.\n", r.Early, r.Changes*r.Subscribers)
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
