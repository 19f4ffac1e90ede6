package masterkey

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// DefaultBatch is how many records one re-sealing transaction handles.
// Writes of certificates wait behind such a transaction: with 10,000
// certificates on a 2-core machine, transactions of 64 records took 8 ms at
// the median and 62 ms at most (256 records: 24 ms and 115 ms), and the
// whole rotation 3.3 s.
const DefaultBatch = 64

// retryAfter is how long a rotation that failed waits before it tries
// again.
const retryAfter = 5 * time.Second

// ErrNoCheckValue is returned by Start on a store that has no master key
// check value. certmgr writes one at start once every stored private key
// opens with the master key, so only a store whose keys were sealed with
// two keys lacks one.
var ErrNoCheckValue = errors.New("the store has no master key check value, so it cannot say which key its data needs: certmgr writes one at start once every stored private key opens with the master key file (the start-up log names those that do not; rotate them in place with new material, or delete them, and restart)")

// ErrKeyFile wraps the errors of writing the new key file, which an
// operator fixes on the host (a read-only directory, a full disk).
var ErrKeyFile = errors.New("cannot write the new master key file")

// States of a Rotator.
const (
	StateIdle     = "idle"
	StateRotating = "rotating"
)

// Status says what a Rotator is doing and has done. It names keys by id
// only.
type Status struct {
	// State is StateIdle or StateRotating.
	State string
	// KeyID is the key new values are sealed with.
	KeyID string
	// PreviousKeyID is the key being retired, while rotating, or the key
	// the last rotation retired.
	PreviousKeyID string
	// Rewrapped counts sealed keys re-sealed by the current or last
	// rotation since this process started it.
	Rewrapped int
	// Damaged counts sealed keys the last walk could not open; they are
	// left as they are (see certs.ErrDamaged).
	Damaged int
	// StartedAt and FinishedAt time the current or last rotation.
	StartedAt, FinishedAt time.Time
	// RetiredKeyFile is where the last rotation kept the retired key.
	RetiredKeyFile string
	// LastError is the error the last attempt stopped at, if any; the
	// rotation is tried again.
	LastError string
}

// Rewrapper re-seals one record's key under the ring's primary key
// (certs.Manager.Rewrap).
type Rewrapper interface {
	Rewrap(c *store.Certificate) (bool, error)
}

// Config configures a Rotator.
type Config struct {
	Store  Resealer
	Ring   *seal.Sealer
	Rewrap Rewrapper
	Files  Files
	Log    *slog.Logger
	// Rotating says Resume found a rotation under way; Run finishes it.
	Rotating bool
	// Batch is the number of records per transaction; 0 means DefaultBatch.
	Batch int
	// Step, when set, is called after each durable step of a rotation with
	// the step's name; an error stops the rotation there as a crash would.
	// Tests use it to cut a rotation off at every step.
	Step func(step string) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SealAgain, when set, seals again under the ring's primary what
	// certmgr keeps sealed outside the store (webhook secrets). It is
	// called before the store switches to the new key, so nothing sealed
	// under the previous key outlives it: a start after the switch no
	// longer has that key.
	SealAgain func() error
}

// Rotator rotates the master key: Start begins a rotation and Run carries
// it out in the background.
type Rotator struct {
	cfg  Config
	wake chan struct{}

	mu     sync.Mutex
	status Status
}

// New returns a Rotator. When cfg.Rotating is set, Run resumes the
// rotation as soon as it starts.
func New(cfg Config) *Rotator {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Step == nil {
		cfg.Step = func(string) error { return nil }
	}
	r := &Rotator{cfg: cfg, wake: make(chan struct{}, 1)}
	r.status = Status{State: StateIdle, KeyID: cfg.Ring.ID()}
	if cfg.Rotating {
		r.status.State = StateRotating
		// Resume put the current key file's key first in the ring.
		r.status.PreviousKeyID = cfg.Ring.IDs()[0]
		r.status.StartedAt = cfg.Now()
		r.wake <- struct{}{}
	}
	return r
}

// Status returns what the rotator is doing.
func (r *Rotator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.KeyID = r.cfg.Ring.ID()
	return st
}

// Start begins a rotation to a new key and returns at once; Run re-seals
// in the background. When a rotation is already under way it is left to
// finish and started is false.
func (r *Rotator) Start() (st Status, started bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.State == StateRotating {
		return r.statusLocked(), false, nil
	}
	check, err := r.cfg.Store.KeyCheck()
	if err != nil {
		return Status{}, false, err
	}
	if check == nil {
		return Status{}, false, ErrNoCheckValue
	}
	recorded, err := r.cfg.Store.KeyNext()
	if err != nil {
		return Status{}, false, err
	}
	if recorded == nil {
		// A next key file left by a Start that failed before the store
		// named it sealed nothing.
		if err := os.Remove(r.cfg.Files.Next()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Status{}, false, err
		}
		if err := r.cfg.Files.createNext(); err != nil {
			return Status{}, false, fmt.Errorf("%w %s (certmgr needs to write in the directory of its master key file): %w", ErrKeyFile, r.cfg.Files.Next(), err)
		}
	}
	next, err := seal.LoadKeyFile(r.cfg.Files.Next())
	if err != nil {
		return Status{}, false, err
	}
	if err := r.cfg.Step("next-key-written"); err != nil {
		return Status{}, false, err
	}
	nextCheck, err := next.NewCheck()
	if err != nil {
		return Status{}, false, err
	}
	err = r.cfg.Store.BeginKeyRotation(nextCheck, func(recorded []byte) bool { return next.VerifyCheck(recorded) == nil })
	if err != nil {
		return Status{}, false, err
	}
	// The key being retired is the one sealing until now (a check value
	// from before key ids names none).
	previous := r.cfg.Ring.ID()
	// Only now that the store names the next key may anything be sealed
	// with it: a start that finds a value sealed with it also finds the
	// store asking for its file.
	r.cfg.Ring.Add(next)
	if err := r.cfg.Ring.SetPrimary(next.ID()); err != nil {
		return Status{}, false, err
	}
	r.cfg.Log.Info("master-key rotation started", slog.String("fromKeyId", previous), slog.String("toKeyId", next.ID()))
	if err := r.cfg.Step("rotation-begun"); err != nil {
		return Status{}, false, err
	}
	r.status = Status{State: StateRotating, PreviousKeyID: previous, StartedAt: r.cfg.Now()}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return r.statusLocked(), true, nil
}

func (r *Rotator) statusLocked() Status {
	st := r.status
	st.KeyID = r.cfg.Ring.ID()
	return st
}

// Run carries out rotations until ctx ends: one resumed at start, and each
// that Start begins. A rotation that fails is tried again after a pause.
// It returns nil when ctx ends.
func (r *Rotator) Run(ctx context.Context) error {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-retry:
		}
		retry = nil
		r.mu.Lock()
		rotating := r.status.State == StateRotating
		r.mu.Unlock()
		if !rotating {
			continue
		}
		if err := r.finish(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.cfg.Log.Warn("master-key rotation stopped; will retry", slog.String("error", err.Error()))
			r.mu.Lock()
			r.status.LastError = err.Error()
			r.mu.Unlock()
			retry = time.After(retryAfter)
		}
	}
}

// finish re-seals until nothing needs the previous key, then retires it.
func (r *Rotator) finish(ctx context.Context) error {
	for {
		since, err := r.cfg.Store.Revision()
		if err != nil {
			return err
		}
		damaged, err := r.walk(ctx)
		if err != nil {
			return err
		}
		if r.cfg.SealAgain != nil {
			if err := r.cfg.SealAgain(); err != nil {
				return fmt.Errorf("sealing webhook secrets again: %w", err)
			}
		}
		done, err := r.cfg.Store.FinishKeyRotation(since, r.cfg.Rewrap.Rewrap)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.status.Damaged = damaged
		r.mu.Unlock()
		if done {
			break
		}
	}
	if err := r.cfg.Step("store-switched"); err != nil {
		return err
	}
	retired, err := r.cfg.Files.promote()
	if err != nil {
		return fmt.Errorf("retiring the previous master key: %w", err)
	}
	if err := r.cfg.Step("files-swapped"); err != nil {
		return err
	}
	r.mu.Lock()
	r.status.State = StateIdle
	r.status.PreviousKeyID = retired
	r.status.RetiredKeyFile = r.cfg.Files.Retired(retired)
	r.status.FinishedAt = r.cfg.Now()
	r.status.LastError = ""
	st := r.status
	r.mu.Unlock()
	r.cfg.Log.Info("master-key rotation finished", slog.String("keyId", r.cfg.Ring.ID()),
		slog.String("retiredKeyId", retired), slog.String("retiredKeyFile", st.RetiredKeyFile),
		slog.Int("rewrapped", st.Rewrapped), slog.Int("damaged", st.Damaged))
	return nil
}

// walk re-seals every certificate record, then every changelog entry, a
// batch per transaction, and returns how many sealed keys did not open.
func (r *Rotator) walk(ctx context.Context) (damaged int, err error) {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		next, st, err := r.cfg.Store.RewrapCertificates(after, r.cfg.Batch, r.cfg.Rewrap.Rewrap)
		if err != nil {
			return 0, err
		}
		r.count(st)
		damaged += st.Failed
		if err := r.cfg.Step("certificates-batch"); err != nil {
			return 0, err
		}
		if next == nil {
			break
		}
		after = next
	}
	var rev uint64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		last, done, st, err := r.cfg.Store.RewrapChangelog(rev, r.cfg.Batch, r.cfg.Rewrap.Rewrap)
		if err != nil {
			return 0, err
		}
		r.count(st)
		damaged += st.Failed
		if err := r.cfg.Step("changelog-batch"); err != nil {
			return 0, err
		}
		if done {
			return damaged, nil
		}
		rev = last
	}
}

func (r *Rotator) count(st store.RewrapStats) {
	r.mu.Lock()
	r.status.Rewrapped += st.Rewrapped
	r.mu.Unlock()
}
