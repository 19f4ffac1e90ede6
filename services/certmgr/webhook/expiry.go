package webhook

import (
	"bytes"
	"encoding/json"
	"time"
)

const day = 24 * time.Hour

// threshold is the expiry mark a certificate with notAfter has at now:
// the smallest of Thresholds (in days) that notAfter is within, 0 when it
// has expired, -1 when it is further away than the largest.
func threshold(notAfter, now time.Time) int {
	left := notAfter.Sub(now)
	if left <= 0 {
		return 0
	}
	mark := -1
	for _, t := range Thresholds {
		if left <= time.Duration(t)*day {
			mark = t
		}
	}
	return mark
}

// announceExpiry queues an expiring or expired event for each tracked
// certificate whose mark is smaller than what was announced of its
// version, and records the mark in the same transaction. A certificate
// found already inside several windows is announced once, for the
// nearest. A full transaction commits what it holds, and the next takes
// the certificates left.
func (d *Dispatcher) announceExpiry() error {
	now := d.cfg.Now()
	for more := true; more; {
		err := d.db.update(true, func(tx kvTx) error {
			more = false
			type due struct {
				key []byte
				t   tracked
			}
			var todo []due
			err := tx.scan(bucketTracked, nil, false, func(k, v []byte) (bool, error) {
				var t tracked
				if json.Unmarshal(v, &t) != nil {
					return true, nil
				}
				mark := threshold(t.NotAfter, now)
				if t.NotAfter.IsZero() || mark < 0 || (t.Announced >= 0 && mark >= t.Announced) {
					return true, nil
				}
				t.Announced = mark
				todo = append(todo, due{bytes.Clone(k), t})
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, x := range todo {
				if tx.full() {
					more = true
					break
				}
				if err := putJSON(tx, bucketTracked, x.key, x.t); err != nil {
					return err
				}
				p := payloadOf(EventExpired, x.t)
				if x.t.Announced > 0 {
					p.Event, p.DaysBefore = EventExpiring, x.t.Announced
				}
				if err := d.enqueue(tx, p, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
