package masterkey

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// A rotation on a store that several certmgr replicas share (etcd), each
// replica with its own copy of the key files on its own machine:
//
//  1. the operator writes the next key once (certmgr --init-master-key
//     --next), copies PATH.next to every replica and sends each SIGHUP
//     (StageAgain) or restarts it; the replica adds PATH.next to its ring,
//     for opening only, and advertises the ids of the keys it holds in the
//     store;
//  2. Start records the next key's check value in the store only if every
//     live replica advertises that key; every replica follows the record
//     (Follow) and seals new values with the next key; a write that finds
//     the records moved on is brought in line and re-sealed first;
//  3. one replica at a time (a claim bound to its lease, which another
//     takes on if it dies) re-seals every record and, once none is left
//     under the old key, makes the next key's check value the store's;
//  4. every replica then follows that: the next key becomes its current
//     key file (PATH.retired-ID keeps the old one, as on one replica), and
//     the old key leaves its ring.
//
// A replica that starts at any point reads what the store needs and is
// refused if it does not hold it.

// SharedStore is what a Shared rotator needs of the store the replicas
// share (etcdstore.Store).
type SharedStore interface {
	KeyRecords
	KeyState() (store.KeyState, error)
	FollowKeyState(st store.KeyState, apply func() error) error
	SetKeyGuard(rewrap store.Rewrap, sync func() error)
	KeyRecordsChanged() <-chan struct{}
	Advertise(name string, keyIDs []string) error
	BeginSharedRotation(next []byte, nextID string, sameKey func(recorded []byte) bool) error
	Replicas() ([]store.Replica, error)
	ClaimKeyWalk(name string) (bool, error)
	RewrapPage(after string, limit int, fn store.Rewrap) (next string, st store.RewrapStats, err error)
	FinishSharedRotation(fn store.Rewrap) (done bool, err error)
}

// DefaultFollowInterval is how often a Shared rotator reads the store's
// master key records even when its feed saw no write of them.
const DefaultFollowInterval = 5 * time.Second

// SharedConfig configures a Shared rotator.
type SharedConfig struct {
	Store  SharedStore
	Ring   *seal.Sealer
	Rewrap Rewrapper
	Files  Files
	// Name names this replica to the others and in errors (e.g. its host
	// and listen address).
	Name string
	// Staged is the key of Files.Next loaded at start (StageNext), nil
	// if there was none.
	Staged *seal.Sealer
	Log    *slog.Logger
	// Batch is the number of records per page of the walk; 0 means
	// DefaultBatch.
	Batch int
	// Step, when set, is called after each durable step with its name; an
	// error stops the walk there as a crash would (tests).
	Step func(step string) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval is how often Run reads the records besides the feed's
	// signal; 0 means DefaultFollowInterval.
	Interval time.Duration
	// SealAgain, when set, seals again under the ring's primary what else
	// the replicas keep sealed with the master key (webhook secrets). The
	// walk calls it before it ends the rotation, and every replica when it
	// follows the end, before the old key leaves its ring: a secret that a
	// replica not yet following the rotation sealed with the old key meanwhile
	// is sealed again by that replica while it still holds the old key.
	SealAgain func() error
}

// Shared is the master-key rotator of one replica of a shared store.
type Shared struct {
	cfg  SharedConfig
	wake chan struct{}

	mu     sync.Mutex
	status Status
	staged *seal.Sealer
}

// StageNext loads the key file Files.Next, if there is one, into ring for
// opening (not sealing): a replica of a shared store holds the next key
// from its start, so that it opens what another replica seals with it once
// a rotation begins. It returns nil when there is no such file.
func StageNext(files Files, ring *seal.Sealer) (*seal.Sealer, error) {
	if err := os.Remove(files.nextTemp()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	next, err := seal.LoadKeyFile(files.Next())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if next.ID() == ring.ID() {
		// A copy of the current key is no next key; Start says so.
		return nil, nil
	}
	ring.Add(next)
	return next, nil
}

// NewShared returns the rotator of this replica: it guards the store's
// writes, advertises the keys the ring holds and follows the store's
// master key records once. An error means this replica cannot serve the
// store (it lacks a key the store needs) and must not start.
func NewShared(cfg SharedConfig) (*Shared, error) {
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
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultFollowInterval
	}
	s := &Shared{cfg: cfg, wake: make(chan struct{}, 1), staged: cfg.Staged}
	s.status = Status{State: StateIdle, KeyID: cfg.Ring.ID()}
	cfg.Store.SetKeyGuard(cfg.Rewrap.Rewrap, s.Follow)
	// Advertised before the records are read: a rotation that begins
	// after this replica's read then sees its keys, and one that began
	// before is in what it reads.
	if err := s.advertise(); err != nil {
		return nil, err
	}
	if err := s.Follow(); err != nil {
		return nil, err
	}
	return s, nil
}

// StageAgain reads Files.Next again, so that a next key put beside the key
// file after this replica started is held and advertised without a
// restart (certmgr does it on SIGHUP). It returns the id of the next key
// this replica now holds, "" if none.
func (s *Shared) StageAgain() (string, error) {
	s.mu.Lock()
	staged := s.staged
	rotating := s.status.State == StateRotating
	s.mu.Unlock()
	if staged != nil {
		return staged.ID(), nil
	}
	if rotating {
		// The rotation's key is staged at start; a replica following one
		// holds it already.
		return "", nil
	}
	next, err := StageNext(s.cfg.Files, s.cfg.Ring)
	if err != nil || next == nil {
		return "", err
	}
	s.mu.Lock()
	s.staged = next
	s.mu.Unlock()
	if err := s.advertise(); err != nil {
		return "", err
	}
	s.cfg.Log.Info("next master key read; this replica advertises it", slog.String("nextKeyId", next.ID()), slog.String("path", s.cfg.Files.Next()))
	return next.ID(), nil
}

func (s *Shared) advertise() error {
	return s.cfg.Store.Advertise(s.cfg.Name, s.cfg.Ring.IDs())
}

// Follow brings the ring and the key files in line with the store's
// master key records, and makes this replica's writes compare them.
func (s *Shared) Follow() error {
	st, err := s.cfg.Store.KeyState()
	if err != nil {
		return err
	}
	return s.cfg.Store.FollowKeyState(st, func() error { return s.apply(st) })
}

// apply brings the ring and the files in line with st.
func (s *Shared) apply(st store.KeyState) error {
	ring := s.cfg.Ring
	switch {
	case st.Check == nil:
		return nil
	case st.Next != nil:
		id := seal.KeyID(st.Next)
		if ring.VerifyCheck(st.Next) != nil {
			return fmt.Errorf("%w: a master-key rotation to key %s is under way on %s, and this certmgr replica (%s) does not hold that key: copy the %s the rotation was started with to %s (mode 0600) and start this replica again",
				ErrKeyMissing, id, s.cfg.Store.Path(), s.cfg.Name, s.cfg.Files.Next(), s.cfg.Files.Next())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if ring.ID() != id {
			previous := ring.ID()
			if err := ring.SetPrimary(id); err != nil {
				return err
			}
			s.cfg.Log.Info("following a master-key rotation: new values are sealed with the next key", slog.String("fromKeyId", previous), slog.String("toKeyId", id))
		}
		if s.status.State != StateRotating {
			s.status = Status{State: StateRotating, PreviousKeyID: seal.KeyID(st.Check), StartedAt: s.cfg.Now()}
		}
		return nil
	}
	id := seal.KeyID(st.Check)
	if ring.VerifyCheck(st.Check) != nil {
		return fmt.Errorf("%w: the data on %s is sealed with master key %s, which this certmgr replica (%s) does not hold: restore the master key file every replica uses to %s",
			ErrKeyMissing, s.cfg.Store.Path(), id, s.cfg.Name, s.cfg.Files.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	previous := ring.ID()
	if previous != id {
		if err := ring.SetPrimary(id); err != nil {
			return err
		}
	}
	retiredID, retiredFile := "", ""
	finishing := s.status.State == StateRotating || (s.staged != nil && s.staged.ID() == id)
	if finishing {
		s.status.LastError = ""
	}
	if s.staged != nil && s.staged.ID() == id {
		// The rotation to the staged key finished: it becomes the key
		// file, and the previous one is kept as PATH.retired-ID.
		retiredID, retiredFile = s.promote(id)
		s.staged = nil
	}
	var retiring []string
	for _, k := range ring.IDs() {
		if k != id && (s.staged == nil || k != s.staged.ID()) {
			retiring = append(retiring, k)
		}
	}
	if len(retiring) > 0 && s.cfg.SealAgain != nil {
		// While this replica still holds the keys it retires.
		if err := s.cfg.SealAgain(); err != nil {
			return fmt.Errorf("sealing webhook secrets under master key %s before retiring the previous key: %w", id, err)
		}
	}
	for _, k := range retiring {
		// No value in the store needs it: the check value names every
		// key the data may need.
		if err := ring.Remove(k); err != nil {
			return err
		}
		s.cfg.Log.Info("master key retired from this replica's ring", slog.String("retiredKeyId", k), slog.String("keyId", id))
	}
	if finishing {
		s.status.State = StateIdle
		s.status.FinishedAt = s.cfg.Now()
		if retiredFile != "" {
			s.status.PreviousKeyID = retiredID
			s.status.RetiredKeyFile = retiredFile
		}
		s.cfg.Log.Info("master-key rotation finished on this replica", slog.String("keyId", id), slog.String("retiredKeyFile", retiredFile))
	}
	return nil
}

// promote makes the staged key, id, the current key file. The ring is
// what this replica serves with, so a file that cannot be moved (a
// read-only mount) does not stop it: it is logged with what to do, and
// tried again at the next start. A key file already holding id was moved
// by a replica that shares its directory. It returns the retired key's id
// and file, "" if none was written.
func (s *Shared) promote(id string) (retiredID, file string) {
	cur, err := seal.LoadKeyFile(s.cfg.Files.Path)
	if err == nil && cur.ID() == id {
		return "", ""
	}
	retired := ""
	if err == nil {
		retired, err = s.cfg.Files.promoteAs(cur.ID())
	}
	if err != nil {
		if cur, lerr := seal.LoadKeyFile(s.cfg.Files.Path); lerr == nil && cur.ID() == id {
			// A replica sharing the directory moved them meanwhile.
			return "", ""
		}
		s.status.LastError = fmt.Sprintf("the rotation finished, but this replica could not move its key files (%v): replace %s with %s yourself, keeping the old file as %s; until then it needs both at start",
			err, s.cfg.Files.Path, s.cfg.Files.Next(), s.cfg.Files.Retired("ID"))
		s.cfg.Log.Warn("master-key rotation finished, but the key files could not be moved", slog.String("error", s.status.LastError))
		return "", ""
	}
	return retired, s.cfg.Files.Retired(retired)
}

// Status returns what the rotation is doing: rotating while the store
// records a rotation or this replica has not yet followed its end, so
// that whichever replica a client asks, "idle" means over (on that
// replica). Rewrapped counts what this replica re-sealed.
func (s *Shared) Status() Status {
	ks, err := s.cfg.Store.KeyState()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.KeyID = s.cfg.Ring.ID()
	if err == nil && ks.Next != nil && st.State != StateRotating {
		// Begun on another replica; this one follows it in a moment.
		st.State, st.KeyID, st.PreviousKeyID, st.StartedAt = StateRotating, seal.KeyID(ks.Next), seal.KeyID(ks.Check), time.Time{}
	}
	return st
}

// ErrKeyMissing is returned when the store needs a master key this
// replica does not hold: by NewShared (the replica must not start) and by
// Run (it stops, so that its clients go to a replica that holds the key
// rather than receive certificates it cannot open).
var ErrKeyMissing = errors.New("this certmgr replica does not hold a master key the store needs")

// ErrNoStagedKey is returned by Start when this replica has no next key.
var ErrNoStagedKey = errors.New("no next master key on this certmgr replica")

// Start begins a rotation to the key staged in Files.Next, if every live
// replica holds it, and returns at once; Run re-seals in the background.
// A rotation already under way is left to finish (started is false).
func (s *Shared) Start() (st Status, started bool, err error) {
	ks, err := s.cfg.Store.KeyState()
	if err != nil {
		return Status{}, false, err
	}
	if ks.Check == nil {
		return Status{}, false, ErrNoCheckValue
	}
	if ks.Next != nil {
		if err := s.Follow(); err != nil {
			return Status{}, false, err
		}
		return s.Status(), false, nil
	}
	s.mu.Lock()
	staged := s.staged
	s.mu.Unlock()
	if staged == nil {
		if err := s.stagedElsewhere(ks.Check); err != nil {
			return Status{}, false, err
		}
		if cur, err := seal.LoadKeyFile(s.cfg.Files.Next()); err == nil && cur.VerifyCheck(ks.Check) == nil {
			return Status{}, false, fmt.Errorf("%w: %s holds the current master key %s; remove it, write a new one with `certmgr --init-master-key --next --master-key-file %s` and copy it to every replica", ErrNoStagedKey, s.cfg.Files.Next(), cur.ID(), s.cfg.Files.Path)
		}
		how := fmt.Sprintf("with --store etcd, put the next key on every replica first: run `certmgr --init-master-key --next --master-key-file %s` on one replica, copy %s to the same path on every other replica (mode 0600), send each replica SIGHUP (or restart them one at a time), then rotate again",
			s.cfg.Files.Path, s.cfg.Files.Next())
		if _, err := os.Stat(s.cfg.Files.Next()); err == nil {
			how = fmt.Sprintf("%s appeared after this replica started: send each replica SIGHUP (or restart them one at a time) so that each reads it, then rotate again", s.cfg.Files.Next())
		}
		return Status{}, false, fmt.Errorf("%w (%s): %s", ErrNoStagedKey, s.cfg.Name, how)
	}
	check, err := staged.NewCheck()
	if err != nil {
		return Status{}, false, err
	}
	err = s.cfg.Store.BeginSharedRotation(check, staged.ID(), func(recorded []byte) bool { return staged.VerifyCheck(recorded) == nil })
	if errors.Is(err, store.ErrKeyNotEverywhere) {
		return Status{}, false, fmt.Errorf("%w: copy %s from this replica (%s) to the same path on each of them (mode 0600) and send them SIGHUP (or restart them one at a time), so that each advertises it; then rotate again. Nothing changed",
			err, s.cfg.Files.Next(), s.cfg.Name)
	}
	if err != nil {
		return Status{}, false, err
	}
	if err := s.cfg.Step("rotation-begun"); err != nil {
		return Status{}, false, err
	}
	if err := s.Follow(); err != nil {
		return Status{}, false, err
	}
	s.cfg.Log.Info("master-key rotation started", slog.String("toKeyId", staged.ID()))
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return s.Status(), true, nil
}

// stagedElsewhere is the error of a Start on a replica without a next key
// while other live replicas advertise one: it names the replicas that do
// not hold it, whichever replica the request reached.
func (s *Shared) stagedElsewhere(check []byte) error {
	replicas, err := s.cfg.Store.Replicas()
	if err != nil {
		return err
	}
	current := seal.KeyID(check)
	holders := map[string][]string{} // next key id → replicas holding it
	for _, r := range replicas {
		for _, id := range r.KeyIDs {
			if id != current {
				holders[id] = append(holders[id], r.Name)
			}
		}
	}
	if len(holders) != 1 {
		return nil // none, or several different ones: the general advice
	}
	for id, have := range holders {
		var lacking []string
		for _, r := range replicas {
			if !slices.Contains(have, r.Name) {
				lacking = append(lacking, r.Name)
			}
		}
		return fmt.Errorf("%w %s: replica(s) %s do not (%s do): copy %s from %s to the same path on each of them (mode 0600) and send them SIGHUP (or restart them one at a time), so that each advertises it; then rotate again. Nothing changed",
			store.ErrKeyNotEverywhere, id, strings.Join(lacking, ", "), strings.Join(have, ", "), s.cfg.Files.Next(), have[0])
	}
	return nil
}

// Run follows the store's master key records and carries out the walk of
// each rotation when this replica holds its claim, until ctx ends. It
// returns nil when ctx ends, and an error wrapping ErrKeyMissing if the
// store comes to need a key this replica does not hold.
func (s *Shared) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-s.cfg.Store.KeyRecordsChanged():
		case <-tick.C:
		}
		if err := s.advertise(); err != nil {
			s.cfg.Log.Warn("advertising this replica's master keys failed; will retry", slog.String("error", err.Error()))
		}
		if err := s.Follow(); err != nil {
			s.cfg.Log.Error("this certmgr replica cannot follow the store's master key records", slog.String("error", err.Error()))
			s.setError(err)
			if errors.Is(err, ErrKeyMissing) {
				return err
			}
			continue
		}
		// Its own view, not Status's: a replica walks only with the
		// rotation followed, its ring sealing with the next key.
		s.mu.Lock()
		rotating := s.status.State == StateRotating
		s.mu.Unlock()
		if !rotating {
			continue
		}
		if err := s.walk(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.cfg.Log.Warn("master-key rotation's walk stopped; will retry", slog.String("error", err.Error()))
			s.setError(err)
		}
	}
}

func (s *Shared) setError(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

// walk re-seals every record and ends the rotation, if this replica holds
// the walk's claim.
func (s *Shared) walk(ctx context.Context) error {
	ok, err := s.cfg.Store.ClaimKeyWalk(s.cfg.Name)
	if err != nil || !ok {
		return err
	}
	if err := s.cfg.Step("walk-claimed"); err != nil {
		return err
	}
	var damaged int
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, st, err := s.cfg.Store.RewrapPage(after, s.cfg.Batch, s.cfg.Rewrap.Rewrap)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.status.Rewrapped += st.Rewrapped
		s.mu.Unlock()
		damaged += st.Failed
		if err := s.cfg.Step("certificates-batch"); err != nil {
			return err
		}
		if next == "" {
			break
		}
		after = next
	}
	s.mu.Lock()
	s.status.Damaged = damaged
	s.mu.Unlock()
	if s.cfg.SealAgain != nil {
		if err := s.cfg.SealAgain(); err != nil {
			return fmt.Errorf("sealing webhook secrets under the next key: %w", err)
		}
	}
	done, err := s.cfg.Store.FinishSharedRotation(s.cfg.Rewrap.Rewrap)
	if err != nil {
		return err
	}
	if !done {
		// A record is still under the old key (a write kept changing
		// it while the walk passed): walk again.
		select {
		case s.wake <- struct{}{}:
		default:
		}
		return nil
	}
	if err := s.cfg.Step("store-switched"); err != nil {
		return err
	}
	if err := s.Follow(); err != nil {
		return err
	}
	return s.cfg.Step("files-swapped")
}

// Rotation is what serves a rotation of the master key: Rotator on a
// store of one replica, Shared on a store replicas share.
type Rotation interface {
	Start() (st Status, started bool, err error)
	Status() Status
	Run(ctx context.Context) error
}

var (
	_ Rotation = (*Rotator)(nil)
	_ Rotation = (*Shared)(nil)
)
