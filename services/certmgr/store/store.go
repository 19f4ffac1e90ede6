package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/certbind/certbind/services/certmgr/revlog"
)

var (
	bucketMeta      = []byte("meta")
	bucketCerts     = []byte("certificates")
	bucketNames     = []byte("names")
	bucketChangelog = []byte("changelog")
	bucketAPIKeys   = []byte("apikeys")

	keySchema = []byte("schema")
)

const schemaVersion = 1

// DefaultRetention is how many changelog entries are kept when Options leaves
// it zero. A subscriber further behind than that gets a resync.
const DefaultRetention = 10000

// Options tune a Store.
type Options struct {
	// Retention is the number of changelog entries kept.
	Retention int
	// Timeout bounds the wait for the file lock held by another process.
	Timeout time.Duration
}

// Store is certmgr's bbolt-backed state. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	group   *revlog.Group
	log     revlog.Log
	publish func(Change)
}

// Open opens or creates the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the file is locked by another process (is another certmgr running on this data dir?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	log := revlog.Log{Log: bucketChangelog, Meta: bucketMeta, Retention: opts.Retention}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := log.Init(tx); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketCerts, bucketNames, bucketAPIKeys} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil && binary.BigEndian.Uint64(v) != schemaVersion {
			return fmt.Errorf("schema version %d is not supported by this build (want %d)", binary.BigEndian.Uint64(v), schemaVersion)
		}
		return meta.Put(keySchema, u64(schemaVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db, group: &revlog.Group{DB: db}, log: log}, nil
}

// SetPublisher sets the function called with every committed change, in the
// goroutine that made it, after the commit. Calls may arrive out of revision
// order when writes race; the receiver orders them. Set it before the first
// write.
func (s *Store) SetPublisher(fn func(Change)) { s.publish = fn }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Revision returns the revision of the last committed write.
func (s *Store) Revision() (uint64, error) {
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx)
		return nil
	})
	return rev, err
}

// write runs fn in a write transaction and, when fn returns a change, stamps
// it with the next revision, appends it to the changelog and trims the
// changelog to the retention. The change is published after the commit.
//
// Writes are group-committed (revlog.Group): writes that arrive while a
// commit is in flight share the next transaction and its fsync, each still
// taking its own revision in order. fn may run more than once (see Group);
// it only reads and writes the transaction, and publishes only on commit.
func (s *Store) write(fn func(tx *bolt.Tx, rev uint64) (*Change, error)) (Change, error) {
	var out Change
	err := s.group.Update(func(tx *bolt.Tx) error {
		rev := s.log.Head(tx) + 1
		c, err := fn(tx, rev)
		if err != nil {
			return err
		}
		if c == nil {
			// Committing an empty bbolt transaction still writes the
			// freelist and a meta page and fsyncs; rolling back writes
			// nothing.
			return errNoChange
		}
		c.Revision = rev
		if err := s.log.Append(tx, rev, c); err != nil {
			return err
		}
		out = *c
		if s.publish != nil {
			// The receiver hands the change to other goroutines, so it gets
			// its own copy of the records: the caller may change the ones
			// it gets back (or the one it passed in) after we return.
			published := c.clone()
			tx.OnCommit(func() { s.publish(published) })
		}
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return Change{}, nil
	case err != nil:
		return Change{}, err
	}
	return out, nil
}

// errNoChange makes write roll back a transaction that changed nothing.
var errNoChange = errors.New("store: no change")

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
