package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certbind/certbind/internal/egress"
)

// maxResponse bounds what is read of a receiver's response, and
// maxExcerpt what of it the delivery log keeps.
const (
	maxResponse = 4096
	maxExcerpt  = 200
	// sendBatch bounds the deliveries one claim takes, and accountBatch
	// those of one account in it: the deliveries of a webhook are sent one
	// after the other and a batch is sent whole before the next is
	// claimed, so an account with a large backlog to a slow receiver would
	// otherwise fill the batch and keep every other account's deliveries
	// waiting for it. accountBatch stays below the etcd write budget, so
	// that a claim there reaches other accounts too.
	sendBatch    = 256
	accountBatch = 16
)

// newClient makes the HTTP client of deliveries: every connection through
// the egress dialer, no proxy from the environment, no redirects, one
// attempt's time bounded, no connection kept between passes.
func newClient(cfg Config) *http.Client {
	dialer := &egress.Dialer{Policy: cfg.Policy, Net: net.Dialer{Timeout: cfg.Timeout}}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// claimed is a delivery claimed for an attempt, with what sending needs.
type claimed struct {
	del    Delivery
	url    string
	secret []byte
	err    error // why it cannot be sent at all
}

// sendDue claims the deliveries that are due, sends them with the bounds
// on concurrency, and records each outcome.
func (d *Dispatcher) sendDue(ctx context.Context) error {
	// Webhooks whose receiver failed in this pass are not claimed again
	// in it: one failing receiver costs a pass one attempt, however many
	// deliveries wait for it.
	var failedMu sync.Mutex
	failed := map[string]bool{}
	for {
		failedMu.Lock()
		skip := maps.Clone(failed)
		failedMu.Unlock()
		batch, more, err := d.claim(skip)
		if err != nil || len(batch) == 0 {
			return err
		}
		// A webhook's deliveries go one after the other, in the order
		// they were recorded; webhooks go side by side, within the bounds.
		var order []string
		byHook := map[string][]claimed{}
		for _, c := range batch {
			if byHook[c.del.WebhookID] == nil {
				order = append(order, c.del.WebhookID)
			}
			byHook[c.del.WebhookID] = append(byHook[c.del.WebhookID], c)
		}
		total := make(chan struct{}, d.cfg.InFlight)
		perAccount := map[string]chan struct{}{}
		var wg sync.WaitGroup
		for _, id := range order {
			list := byHook[id]
			account := list[0].del.Account
			sem := perAccount[account]
			if sem == nil {
				sem = make(chan struct{}, d.cfg.PerAccount)
				perAccount[account] = sem
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				total <- struct{}{}
				defer func() { <-total; <-sem }()
				for i, c := range list {
					status, excerpt, err := d.attempt(ctx, c)
					if rerr := d.finish(c.del, status, excerpt, err); rerr != nil {
						d.cfg.Log.Warn("recording a webhook delivery failed", slog.String("delivery", c.del.ID), slog.String("error", rerr.Error()))
					}
					if err != nil {
						// A receiver that fails is not sent the rest of
						// its batch in this pass: one slow receiver costs
						// a pass one timeout, not one per delivery.
						failedMu.Lock()
						failed[id] = true
						failedMu.Unlock()
						d.release(list[i+1:])
						return
					}
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil || !more {
			return ctx.Err()
		}
	}
}

// claim marks up to sendBatch due deliveries as being sent, at most
// accountBatch of one account, in one transaction, so that a pass that
// follows (after a crash, too) takes a delivery again only once its claim
// has run out. more says the batch stopped at a bound (sendBatch,
// accountBatch, or a full transaction on etcd), so that more may be due.
// Deliveries of the webhooks in skip are left.
func (d *Dispatcher) claim(skip map[string]bool) (batch []claimed, more bool, err error) {
	now := d.cfg.Now()
	err = d.db.update(true, func(tx kvTx) error {
		batch, more = batch[:0], false
		perAccount := map[string]int{}
		var keys [][]byte
		accounts := map[string]bool{}
		err := tx.scan(bucketDue, nil, false, func(k, acct []byte) (bool, error) {
			keys = append(keys, deliveryKey(string(acct), binary.BigEndian.Uint64(k)))
			accounts[string(acct)] = true
			return true, nil
		})
		if err != nil {
			return err
		}
		for acct := range accounts {
			if err := tx.prefetch(bucketDeliveries, accountPrefix(acct)); err != nil {
				return err
			}
		}
		for _, key := range keys {
			if len(batch) >= sendBatch || tx.full() {
				more = true
				break
			}
			var del Delivery
			ok, err := getJSON(tx, bucketDeliveries, key, &del)
			if err != nil || !ok || skip[del.WebhookID] {
				continue
			}
			switch {
			case del.State == StatePending && !del.NextAttempt.After(now):
			case del.State == StateSending && !del.ClaimUntil.After(now):
			default:
				continue
			}
			if perAccount[del.Account] >= accountBatch {
				more = true
				continue
			}
			perAccount[del.Account]++
			del.State = StateSending
			del.Attempts++
			del.ClaimUntil = now.Add(2*d.cfg.Timeout + time.Minute)
			if err := putJSON(tx, bucketDeliveries, key, del); err != nil {
				return err
			}
			cl := claimed{del: del}
			h, err := findHook(tx, del.Account, del.WebhookID)
			if err != nil {
				cl.err = errGone
			} else {
				cl.url = h.URL
				secret, err := d.cfg.Sealer.Open(h.SealedSecret, secretAAD(h))
				if err != nil {
					cl.err = errors.New("the webhook's secret does not open with the master key")
				}
				cl.secret = secret
			}
			batch = append(batch, cl)
		}
		return nil
	})
	return batch, more, err
}

// attempt sends one delivery and returns the receiver's status and an
// excerpt of its response.
func (d *Dispatcher) attempt(ctx context.Context, c claimed) (int, string, error) {
	if c.err != nil {
		return 0, "", c.err
	}
	defer d.attemptTook(time.Now())
	u, err := url.Parse(c.url)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(c.del.Body))
	if err != nil {
		return 0, "", err
	}
	ts := d.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certbind-webhook/1")
	req.Header.Set(HeaderID, c.del.ID)
	req.Header.Set(HeaderEvent, c.del.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(c.secret, ts, c.del.Body))
	resp, err := d.client.Do(req)
	if err != nil {
		var refused *egress.RefusedError
		if errors.As(err, &refused) {
			return 0, "", refusedError(refused)
		}
		return 0, "", errors.New(describeSendError(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	excerpt := Excerpt(data)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, excerpt, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, excerpt, nil
}

// Excerpt is what the delivery log keeps of a response body: its start,
// escaped (Go quoting, with <, > and & escaped too, so that no control
// character or markup survives), at most maxExcerpt bytes.
func Excerpt(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	cut := len(body) > maxExcerpt/2
	if cut {
		body = body[:maxExcerpt/2]
	}
	s := strconv.QuoteToASCII(string(body))
	s = excerptEscaper.Replace(s[1 : len(s)-1])
	if len(s) > maxExcerpt {
		s, cut = s[:maxExcerpt], true
	}
	if cut {
		s += "..."
	}
	return s
}

var excerptEscaper = strings.NewReplacer("<", `\x3c`, ">", `\x3e`, "&", `\x26`)

// refusedError says why the egress policy refused a receiver, in the
// words of webhooks rather than of routes.
func refusedError(r *egress.RefusedError) error {
	target := r.Addr.String()
	if r.Host != "" {
		target = strconv.Quote(r.Host) + " (" + r.Addr.String() + ")"
	}
	switch r.Rule {
	case egress.RuleBuiltin:
		return fmt.Errorf("receiver %s refused by the egress policy: %s; no setting allows it", target, r.Reason)
	case egress.RuleOwn:
		return fmt.Errorf("receiver %s refused by the egress policy: it is one of certbind's own addresses (%s), and a webhook must not reach certbind itself", target, r.Reason)
	case egress.RuleDeny:
		return fmt.Errorf("receiver %s refused by the egress policy: the operator denies its range", target)
	case egress.RuleLoopback:
		return fmt.Errorf("receiver %s refused by the egress policy: loopback is not allowed (certbind dev allows it)", target)
	}
	return fmt.Errorf("receiver %s refused by the egress policy", target)
}

// describeSendError is a failed attempt's error without the URL, which
// the log shows already and which may be long.
func describeSendError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// finish records the outcome of an attempt: delivered, scheduled again
// with backoff, or failed for good once the attempts are spent.
func (d *Dispatcher) finish(sent Delivery, status int, excerpt string, sendErr error) error {
	now := d.cfg.Now()
	return d.db.update(true, func(tx kvTx) error {
		key := deliveryKey(sent.Account, sent.Seq)
		var del Delivery
		ok, err := getJSON(tx, bucketDeliveries, key, &del)
		if err != nil || !ok {
			return err
		}
		del.LastStatus, del.Excerpt, del.ClaimUntil = status, excerpt, time.Time{}
		del.LastError = ""
		switch {
		case sendErr == nil:
			del.State, del.DeliveredAt = StateDelivered, now.UTC()
		case del.Attempts >= d.cfg.MaxAttempts || errors.Is(sendErr, errGone):
			del.State, del.LastError = StateFailed, sendErr.Error()
		default:
			del.State, del.LastError = StatePending, sendErr.Error()
			del.NextAttempt = now.Add(d.backoff(del.Attempts))
		}
		if del.State != StatePending {
			if err := leaveDue(tx, del.Account, del.Seq); err != nil {
				return err
			}
		}
		d.cfg.Log.Info("webhook delivery attempt", slog.String("account", del.Account), slog.String("webhook", del.WebhookID),
			slog.String("delivery", del.ID), slog.String("event", del.Event), slog.Int("attempt", del.Attempts),
			slog.Int("status", status), slog.String("state", del.State), slog.String("error", del.LastError))
		d.attempted(tx, del)
		return putJSON(tx, bucketDeliveries, key, del)
	})
}

var errGone = errors.New("the webhook is gone")

// release gives claimed deliveries back, unattempted, for a later pass.
func (d *Dispatcher) release(list []claimed) {
	for len(list) > 0 {
		done := 0
		err := d.db.update(true, func(tx kvTx) error {
			done = 0
			for _, c := range list {
				if tx.full() {
					break
				}
				done++
				key := deliveryKey(c.del.Account, c.del.Seq)
				var del Delivery
				if ok, err := getJSON(tx, bucketDeliveries, key, &del); err != nil || !ok || del.State != StateSending {
					continue
				}
				del.State, del.ClaimUntil = StatePending, time.Time{}
				del.Attempts--
				if err := putJSON(tx, bucketDeliveries, key, del); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			d.cfg.Log.Warn("releasing webhook deliveries failed; they are taken again once their claim runs out", slog.String("error", err.Error()))
			return
		}
		list = list[done:]
	}
}

// backoff is the wait after the n-th failed attempt: Backoff doubled n-1
// times, at most MaxBackoff, of which a random part up to a half is taken
// off so that receivers that fail together are not retried together.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.cfg.Backoff
	for i := 1; i < n && w < d.cfg.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.cfg.MaxBackoff)
	return w - time.Duration(rand.Int64N(int64(w)/2+1))
}
