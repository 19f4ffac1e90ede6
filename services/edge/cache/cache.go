package cache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// Config configures a cache.
type Config struct {
	// Dir holds the cache file; it is created (0700) if missing.
	Dir string
	// KeyFile holds the key the cache is sealed with (64 hex characters,
	// mode 0600). It is created only for a new cache; keep it off the
	// disk Dir is on, or at least out of what is backed up with it.
	KeyFile string
	// Account, Project and EnvironmentType are the scope the edge follows;
	// a cache written under another scope is refused.
	Account, Project, EnvironmentType string
	// EdgeKey is the key the edge streams with; a cache written with
	// another key is refused, since the state it holds is what that other
	// key could see.
	EdgeKey string
	// MaxBytes bounds the cache file (0: DefaultMaxBytes). A larger state
	// is not written (and the older file is removed, so that a restart
	// does not serve a state far behind); a larger file is not read.
	MaxBytes int64
	// Every is the shortest time between two writes (0: one second).
	// Changes within it are written together.
	Every time.Duration
	// Logger receives the cache's operational lines; nil discards them.
	Logger *slog.Logger
}

// Cache is an edge's on-disk cache: the taps keep a copy of what the
// streams delivered, and Run writes it out.
type Cache struct {
	cfg    Config
	path   string
	keySum [32]byte
	sealer *sealer
	log    *slog.Logger

	mu sync.Mutex
	m  mirror
	// dirty: the state changed since the last write; moved: only stream
	// positions did (heartbeats), which is written less often.
	dirty, moved bool
	written      time.Time
	// retryAt holds Run's writes back after a failed one, so that a full
	// disk or a state over the bound is not encoded and logged every tick.
	retryAt  time.Time
	restored time.Time
	lastErr  string
}

// Status is what the edge's status says of its cache.
type Status struct {
	// Written is when the cache was last written by this process.
	Written time.Time
	// Restored is when the cache this process started from was written
	// (zero: it started empty).
	Restored time.Time
	// Error is the last write's failure, or why the cache found at start
	// was refused.
	Error string
}

// Open prepares the cache in cfg.Dir: it creates the directory, loads the
// key file (creating it for a new cache only) and removes temporary files
// a crash left. Its errors are the operator's to fix (a key file others
// can read, a missing key beside an existing cache, a directory it cannot
// write) and should stop the edge from starting.
func Open(cfg Config) (*Cache, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("no cache directory (--cache-dir)")
	case cfg.KeyFile == "":
		return nil, errors.New("--cache-dir needs --cache-key-file: the cache holds private keys and is sealed with that key (created on first use; keep it apart from the cache directory's backups)")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	sealer, err := loadKey(cfg.KeyFile, path, log)
	if err != nil {
		return nil, err
	}
	if left, _ := filepath.Glob(filepath.Join(cfg.Dir, tempPattern)); len(left) > 0 {
		for _, p := range left {
			os.Remove(p)
		}
	}
	c := &Cache{cfg: cfg, path: path, keySum: sha256.Sum256([]byte(cfg.EdgeKey)), sealer: sealer, log: log}
	c.m.reset()
	return c, nil
}

// Path is the cache file's path.
func (c *Cache) Path() string { return c.path }

// Load reads the cache file. It returns nil and no error when there is
// none yet. A file it refuses (damaged, truncated, sealed with another
// key, of another scope or edge key, too large) gives an error wrapping
// ErrRefused, which the status then shows; the caller logs it and starts
// empty. What Load returns is also what the cache holds until the streams
// say otherwise, so a restart that hears nothing new writes it back as is.
func (c *Cache) Load() (*edgev1.CachedState, error) {
	st, err := c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err.Error()
		return nil, err
	}
	if st != nil {
		c.m.seed(st)
		c.restored = time.UnixMilli(st.GetWrittenUnixMs())
	}
	return st, nil
}

func (c *Cache) read() (*edgev1.CachedState, error) {
	f, err := os.Open(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, c.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrRefused, c.path, err)
	}
	if int64(len(data)) > c.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s is larger than the bound of %d bytes (--cache-max-bytes)", ErrRefused, c.path, c.cfg.MaxBytes)
	}
	st, err := decode(c.sealer, data)
	clear(data)
	if err != nil {
		return nil, err
	}
	if err := c.check(st); err != nil {
		return nil, err
	}
	return st, nil
}

// check refuses a cache written for another edge: another scope, or
// another edge key.
func (c *Cache) check(st *edgev1.CachedState) error {
	if st.GetAccount() != c.cfg.Account || st.GetProject() != c.cfg.Project || st.GetEnvironmentType() != c.cfg.EnvironmentType {
		return fmt.Errorf("%w: written for another scope (account %q, project %q, environment type %q; this edge follows %q, %q, %q)", ErrRefused,
			st.GetAccount(), st.GetProject(), st.GetEnvironmentType(), c.cfg.Account, c.cfg.Project, c.cfg.EnvironmentType)
	}
	if string(st.GetEdgeKeySha256()) != string(c.keySum[:]) {
		return fmt.Errorf("%w: written with another edge key (what it holds is what that key could see)", ErrRefused)
	}
	for _, m := range st.GetCertificates() {
		if c.cfg.Account != "" && m.GetCertificate().GetAccount() != c.cfg.Account {
			return fmt.Errorf("%w: certificate %s is of another account than the scope's", ErrRefused, m.GetCertificate().GetId())
		}
	}
	for _, d := range st.GetDeployments() {
		if c.cfg.Account != "" && d.GetAccount() != c.cfg.Account {
			return fmt.Errorf("%w: deployment %s is of another account than the scope's", ErrRefused, d.GetId())
		}
	}
	return nil
}

// Status reports the cache's writes and what the edge started from.
func (c *Cache) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{Written: c.written, Restored: c.restored, Error: c.lastErr}
}

// positionEvery is how often a cache whose state did not change is
// written anyway for the streams' newer positions (heartbeats): often
// enough that a restart resumes close to where it stood, and says how
// stale it is to within this.
const positionEvery = 30 * time.Second

// Run writes the cache when the state changed, at most once per
// Config.Every, and once more when ctx ends. It returns nil then.
func (c *Cache) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Flush()
			return nil
		case <-tick.C:
		}
		c.mu.Lock()
		now := time.Now()
		due := !now.Before(c.retryAt) && (c.dirty || (c.moved && now.Sub(c.written) >= positionEvery))
		c.mu.Unlock()
		if due {
			c.Flush()
		}
	}
}

// Flush writes the cache now if anything changed since the last write.
func (c *Cache) Flush() {
	c.mu.Lock()
	if !c.dirty && !c.moved {
		c.mu.Unlock()
		return
	}
	// The time is taken before the state: a write stamped after a moment
	// holds everything the taps had heard of by then.
	now := time.Now()
	st := c.m.state()
	c.dirty, c.moved = false, false
	c.mu.Unlock()

	st.WrittenUnixMs = now.UnixMilli()
	st.Account, st.Project, st.EnvironmentType = c.cfg.Account, c.cfg.Project, c.cfg.EnvironmentType
	st.EdgeKeySha256 = c.keySum[:]
	err := c.write(st)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err.Error()
		// Run tries again later, with whatever changed meanwhile.
		c.dirty, c.retryAt = true, now.Add(positionEvery)
		c.log.Error("cannot write the edge cache", slog.String("path", c.path), slog.String("error", err.Error()))
		return
	}
	c.written, c.lastErr, c.retryAt = now, "", time.Time{}
}

func (c *Cache) write(st *edgev1.CachedState) error {
	data, err := encode(c.sealer, st)
	if err != nil {
		return err
	}
	if int64(len(data)) > c.cfg.MaxBytes {
		// An older file would be served on a restart as if current: better
		// none, which the status and log make visible.
		os.Remove(c.path)
		return fmt.Errorf("the edge's state takes %d bytes sealed, more than the bound of %d (--cache-max-bytes): not cached, and the older cache removed", len(data), c.cfg.MaxBytes)
	}
	return writeFile(c.path, data)
}

// changed marks the state (content) or only a stream's position as not
// yet written; call with c.mu held.
func (c *Cache) changed(content bool) {
	if content {
		c.dirty = true
	} else {
		c.moved = true
	}
}
