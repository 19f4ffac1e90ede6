package webhook

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Source is certmgr's store as the dispatcher reads it.
type Source interface {
	ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error)
	Snapshot() ([]*store.Certificate, uint64, error)
	GetCertificate(account, project, id string) (*store.Certificate, error)
	Epoch() string
}

// Sealer seals webhook secrets with the master key, as private keys are.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
	// ID is the id of the key Seal uses.
	ID() string
}

// Config configures a Dispatcher.
type Config struct {
	// DataDir holds webhooks.db. Not used with Etcd.
	DataDir string
	// Etcd, when not nil, keeps the webhooks, deliveries and the cursor
	// in etcd under EtcdPrefix (certmgr's prefix) instead of webhooks.db,
	// shared by every replica; the replicas elect one to dispatch. The
	// client stays the caller's.
	Etcd       *clientv3.Client
	EtcdPrefix string
	// LeaderTTL is how long the other replicas wait for a leader that
	// stopped without resigning; default DefaultLeaderTTL, counted in
	// whole seconds.
	LeaderTTL time.Duration
	Source    Source
	Sealer    Sealer
	// Policy decides which receiver addresses may be dialled: the edge's
	// rules, with the control plane's own listeners among its refusals.
	// nil refuses loopback and the built-in ranges.
	Policy *egress.Policy
	// URLs say which webhook URLs are accepted.
	URLs URLRules
	// RootCAs verify receivers; nil means the system's roots.
	RootCAs *x509.CertPool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Timeout bounds one attempt, connection to response. Default 10s.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a delivery. Default 8.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; it doubles after
	// each (with jitter) up to MaxBackoff. Defaults 30s and 1h.
	Backoff, MaxBackoff time.Duration
	// PerAccount and InFlight bound the attempts in flight per account and
	// in total. Defaults 4 and 32.
	PerAccount, InFlight int
	// Interval is how often Run looks for expiring certificates and due
	// retries. Default 1m; a change wakes it at once.
	Interval time.Duration
	// MaxHooks bounds an account's webhooks. Default 20.
	MaxHooks int
	// LogSize bounds the finished deliveries kept per account. Default
	// 1000.
	LogSize int
	// MaxPending bounds the deliveries of an account waiting to be sent;
	// its events beyond it are dropped and counted. Default 10000.
	MaxPending int
	// Metrics receives what deliveries do (metrics.go); nil records none.
	Metrics Metrics
}

// Dispatcher derives events, keeps webhooks and sends deliveries.
type Dispatcher struct {
	cfg    Config
	db     kv
	etcd   *kvEtcd // nil on the bbolt file
	client *http.Client
	wake   chan struct{}
	// replica names this replica in the election.
	replica string
	// mu makes one pass at a time: Run's and a test's RunOnce.
	mu sync.Mutex
	// leader is this replica's leadership on etcd, nil while it does not
	// lead (always on the bbolt file). Guarded by mu.
	leader *leadership
	// closing ends with Close, so that a campaign Run is waiting in (which
	// holds mu) gives way to Close.
	closing     context.Context
	closeCancel context.CancelFunc
	// dropLogged is when a drop of each account's events was last logged.
	dropMu     sync.Mutex
	dropLogged map[string]time.Time
}

// Errors of the webhook API.
var (
	ErrNotFound  = errors.New("no webhook with that id or name in this account (list them with `certbind webhook list`)")
	ErrNameTaken = errors.New("this account already has a webhook with that name: choose another --name, or delete it first")
	ErrTooMany   = errors.New("this account has as many webhooks as it may have: delete one first")
)

// InvalidError is a request that is refused as it is.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// New opens webhooks.db under cfg.DataDir, or the records in etcd when
// cfg.Etcd is set.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.Backoff, 30*time.Second)
	def(&cfg.MaxBackoff, time.Hour)
	def(&cfg.Interval, time.Minute)
	defInt(&cfg.MaxAttempts, 8)
	defInt(&cfg.PerAccount, 4)
	defInt(&cfg.InFlight, 32)
	defInt(&cfg.MaxHooks, 20)
	defInt(&cfg.LogSize, 1000)
	defInt(&cfg.MaxPending, 10000)
	def(&cfg.LeaderTTL, DefaultLeaderTTL)
	d := &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), replica: newID("replica_"), dropLogged: map[string]time.Time{}}
	d.closing, d.closeCancel = context.WithCancel(context.Background())
	if cfg.Etcd != nil {
		if err := etcdkv.CheckPrefix(cfg.EtcdPrefix); err != nil {
			return nil, err
		}
		d.etcd = newKVEtcd(cfg.Etcd, cfg.EtcdPrefix, etcdkv.DefaultTimeout)
		d.db = d.etcd
	} else {
		db, err := openBolt(filepath.Join(cfg.DataDir, "webhooks.db"))
		if err != nil {
			return nil, err
		}
		d.db = db
	}
	d.client = newClient(cfg)
	// Records that follow nothing yet start at the store's head now, so
	// that every change from here on makes its events, even those
	// committed before the first pass. On etcd the first replica to start
	// does it, before any leader is elected; another that starts at the
	// same time finds it done when it writes the cursor.
	if _, epoch, err := d.cursor(); err != nil || epoch == "" {
		if err == nil {
			err = d.reseed("new webhook records", false, "")
		}
		if err != nil {
			d.db.close()
			return nil, err
		}
	}
	if err := d.countPending(); err != nil {
		d.db.close()
		return nil, err
	}
	return d, nil
}

// Close seals secrets again after a master-key rotation on the webhook
// file (see rewrapSecrets), resigns the leadership on etcd so that another
// replica takes over at once, and closes the webhook records. Stop Run
// first.
func (d *Dispatcher) Close() error {
	d.closeCancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.etcd == nil {
		if err := d.rewrapSecrets(); err != nil {
			d.cfg.Log.Warn("sealing webhook secrets under the current master key failed", slog.String("error", err.Error()))
		}
	}
	if d.etcd != nil {
		d.dropLead()
	}
	return d.db.close()
}

// Notify wakes Run: a change was committed.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run makes a pass at once, after every change (Notify) and every
// Interval, until ctx ends; it returns nil then. On etcd it first waits
// to be elected leader, and campaigns again if its leadership lapses.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	if d.etcd != nil {
		go d.watchDue(ctx)
		go d.reportBacklog(ctx)
	}
	for {
		var again <-chan time.Time
		if err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Log.Warn("webhook pass failed; will retry", slog.String("error", err.Error()))
			if d.etcd != nil && d.lost() == nil {
				// Not elected (etcd unreachable, or the leadership was
				// just lost): campaign again shortly.
				again = time.After(time.Second)
			}
		}
		if d.closing.Err() != nil {
			// Closed while Run went on: nothing more to do.
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-again:
		case <-d.wake:
		case <-d.lost():
		}
	}
}

// RunOnce makes one pass: it records the events of the changes committed
// since the last pass, announces certificates that entered an expiry
// window, and sends every delivery that is due, waiting for the attempts.
// On etcd it waits first until this replica leads the dispatch.
func (d *Dispatcher) RunOnce(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.updateBacklog()
	if err := d.lead(ctx); err != nil {
		return fmt.Errorf("electing the webhook leader: %w", err)
	}
	return d.checkLead(d.pass(ctx))
}

func (d *Dispatcher) pass(ctx context.Context) error {
	// On etcd the rotation alone seals secrets again (SealSecretsAgain):
	// a leader that has not yet followed a rotation under way would seal
	// them back under the key that is retiring.
	if d.etcd == nil {
		if err := d.rewrapSecrets(); err != nil {
			return fmt.Errorf("sealing webhook secrets under the current master key: %w", err)
		}
	}
	if err := d.follow(); err != nil {
		return fmt.Errorf("reading certificate changes: %w", err)
	}
	if err := d.announceExpiry(); err != nil {
		return fmt.Errorf("announcing expiry: %w", err)
	}
	return d.sendDue(ctx)
}

// newID returns a random id with prefix.
func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
