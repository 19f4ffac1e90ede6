package webhook

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backlogRecorder keeps what Backlog was last told.
type backlogRecorder struct {
	noMetrics
	waiting int
	oldest  time.Time
}

func (r *backlogRecorder) Backlog(n int, oldest time.Time) { r.waiting, r.oldest = n, oldest }

// backlogDispatcher is a dispatcher on a webhook file with n deliveries
// waiting, the first recorded at first.
func backlogDispatcher(tb testing.TB, n int, first time.Time) (*Dispatcher, *backlogRecorder) {
	tb.Helper()
	file, err := openBolt(filepath.Join(tb.TempDir(), "webhooks.db"))
	if err != nil {
		tb.Fatal(err)
	}
	db := file.db
	tb.Cleanup(func() { db.Close() })
	for start := 0; start < n; start += 10000 {
		err := db.Update(func(tx *bolt.Tx) error {
			for i := start; i < min(n, start+10000); i++ {
				account := fmt.Sprintf("acct%03d", i%100)
				seq, _ := nextSeq(boltTx{tx})
				del := Delivery{ID: fmt.Sprintf("dlv_%016x", seq), Seq: seq, Account: account, State: StatePending,
					CreatedAt: first.Add(time.Duration(i) * time.Second), Body: []byte(`{"event":"certificate.created"}`)}
				if err := putJSON(boltTx{tx}, bucketDeliveries, deliveryKey(account, seq), del); err != nil {
					return err
				}
				if err := tx.Bucket(bucketDue).Put(u64(seq), []byte(account)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	rec := &backlogRecorder{}
	return &Dispatcher{db: file, cfg: Config{Metrics: rec}}, rec
}

// The backlog is the number of waiting deliveries and the creation time
// of the one recorded first, whichever account it is of.
func TestUpdateBacklog(t *testing.T) {
	first := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d, rec := backlogDispatcher(t, 250, first)
	d.updateBacklog()
	if rec.waiting != 250 || !rec.oldest.Equal(first) {
		t.Fatalf("backlog %d since %v, want 250 since %v", rec.waiting, rec.oldest, first)
	}
	empty, rec := backlogDispatcher(t, 0, first)
	empty.updateBacklog()
	if rec.waiting != 0 || !rec.oldest.IsZero() {
		t.Fatalf("empty backlog: %d since %v", rec.waiting, rec.oldest)
	}
}

// BenchmarkUpdateBacklog is the cost the backlog gauges add to each
// dispatcher pass, by the number of deliveries waiting.
func BenchmarkUpdateBacklog(b *testing.B) {
	for _, n := range []int{100, 10000, 100000} {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			d, _ := backlogDispatcher(b, n, time.Now())
			for b.Loop() {
				d.updateBacklog()
			}
		})
	}
}
