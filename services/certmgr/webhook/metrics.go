package webhook

import (
	"context"
	"encoding/binary"
	"log/slog"
	"time"
)

// Results of an attempt, as Metrics.Attempted receives them.
const (
	// ResultDelivered is an attempt the receiver answered with 2xx.
	ResultDelivered = "delivered"
	// ResultRetry is a failed attempt that will be made again.
	ResultRetry = "retry"
	// ResultFailed is a failed attempt after which the delivery is failed
	// for good: its attempts are spent, or its webhook is gone.
	ResultFailed = "failed"
)

// Results lists every attempt result.
var Results = []string{ResultDelivered, ResultRetry, ResultFailed}

// Metrics receives what the dispatcher does, for certmgr's metrics. Its
// methods are called from the dispatcher's goroutines and must not block.
// Every label it is given comes from a fixed list (Events, Results): no
// account, webhook or URL, so that the number of series stays bounded
// whatever tenants do; the delivery log is the per-account view.
type Metrics interface {
	// Queued counts a delivery recorded for an event, once its
	// transaction committed.
	Queued(event string)
	// Attempted counts the outcome of an attempt, once recorded.
	Attempted(event, result string)
	// AttemptTook observes how long one attempt's request took, from
	// dialling to the end of the response read.
	AttemptTook(d time.Duration)
	// Dropped counts a delivery not recorded because its account had
	// Config.MaxPending deliveries waiting already, once its transaction
	// committed.
	Dropped(event string)
	// Backlog is the deliveries waiting to be sent (pending, or claimed by
	// an attempt under way) at the end of a pass, and when the oldest of
	// them was recorded (zero when none waits).
	Backlog(waiting int, oldest time.Time)
}

// noMetrics is the Metrics of a Config that sets none.
type noMetrics struct{}

func (noMetrics) Queued(string)             {}
func (noMetrics) Attempted(string, string)  {}
func (noMetrics) AttemptTook(time.Duration) {}
func (noMetrics) Backlog(int, time.Time)    {}
func (noMetrics) Dropped(string)            {}

// metrics is cfg.Metrics, or one that records nothing.
func (d *Dispatcher) metrics() Metrics {
	if d.cfg.Metrics == nil {
		return noMetrics{}
	}
	return d.cfg.Metrics
}

// queued counts p's delivery once tx commits.
func (d *Dispatcher) queued(tx kvTx, event string) {
	tx.onCommit(func() { d.metrics().Queued(event) })
}

// dropped counts an event not recorded for a webhook, once tx commits,
// and says so in the log at most once a minute per account: a tenant that
// floods events must not flood the log too.
func (d *Dispatcher) dropped(tx kvTx, account, webhookID, event string) {
	tx.onCommit(func() {
		d.metrics().Dropped(event)
		now := time.Now()
		d.dropMu.Lock()
		last, seen := d.dropLogged[account]
		if !seen || now.Sub(last) >= time.Minute {
			if len(d.dropLogged) >= 10000 {
				clear(d.dropLogged)
			}
			d.dropLogged[account] = now
		}
		d.dropMu.Unlock()
		if !seen || now.Sub(last) >= time.Minute {
			d.cfg.Log.Warn("webhook events dropped: the account has as many deliveries waiting as it may have (its receivers fail or are slow); further ones are dropped until they drain",
				slog.String("account", account), slog.String("webhook", webhookID), slog.String("event", event), slog.Int("maxPending", d.cfg.MaxPending))
		}
	})
}

// attempted counts the outcome of an attempt whose delivery is now in
// state, once tx commits.
func (d *Dispatcher) attempted(tx kvTx, del Delivery) {
	result := ResultRetry
	switch del.State {
	case StateDelivered:
		result = ResultDelivered
	case StateFailed:
		result = ResultFailed
	}
	tx.onCommit(func() { d.metrics().Attempted(del.Event, result) })
}

// attemptTook observes the time since start; attempt defers it.
func (d *Dispatcher) attemptTook(start time.Time) {
	d.metrics().AttemptTook(time.Since(start))
}

// reportBacklog updates the backlog every Interval until ctx ends. On etcd
// every replica runs it, leader or not (a replica that does not lead waits
// in its campaign, and makes no pass): each reads the shared records, so a
// replica that lost the leadership does not go on exporting the backlog it
// last saw.
func (d *Dispatcher) reportBacklog(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.updateBacklog()
		}
	}
}

// updateBacklog tells Metrics how many deliveries wait and since when. The
// due bucket holds exactly the deliveries not yet finished, keyed by their
// sequence number, so its first key is the oldest: this counts the due
// keys and reads one delivery, once per pass (on every replica of etcd,
// which all read the same records), never on a request.
func (d *Dispatcher) updateBacklog() {
	var n int
	var oldest time.Time
	err := d.db.view(func(tx kvTx) error {
		var err error
		if n, err = tx.count(bucketDue, nil); err != nil || n == 0 {
			return err
		}
		return tx.scan(bucketDue, nil, false, func(k, acct []byte) (bool, error) {
			if len(k) != 8 {
				return true, nil
			}
			var del Delivery
			if ok, err := getJSON(tx, bucketDeliveries, deliveryKey(string(acct), binary.BigEndian.Uint64(k)), &del); ok && err == nil {
				oldest = del.CreatedAt
			}
			return false, nil
		})
	})
	if err != nil {
		return
	}
	d.metrics().Backlog(n, oldest)
}
