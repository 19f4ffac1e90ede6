package store

import (
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/revlog"
)

var (
	bucketMeta      = []byte("meta")
	bucketCerts     = []byte("certificates")
	bucketNames     = []byte("names")
	bucketChangelog = []byte("changelog")
	bucketAPIKeys   = []byte("apikeys")
	bucketAudit     = []byte("audit")
	bucketAuditN    = []byte("auditcounts")
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
	// Audit bounds the audit trail; zero fields take audit's defaults.
	Audit audit.Retention
}

// Store is certmgr's bbolt-backed state. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	group   *revlog.Group
	log     revlog.Log
	audit   audit.Log
	publish func(Entry)
	// epoch is read once at Open: only Restamp changes it, on a file no
	// process holds open.
	epoch string
}

// Open opens the store file at path, or creates it if it does not exist.
// An existing file that is empty, cut short or damaged is refused and left
// as it is (see revlog.Open).
func Open(path string, opts Options) (*Store, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	log := revlog.Log{Log: bucketChangelog, Meta: bucketMeta, Retention: opts.Retention}
	al := audit.Log{Bucket: bucketAudit, Counts: bucketAuditN, Retention: opts.Audit}
	db, err := revlog.Open(path, "certmgr", opts.Timeout, schemaVersion, log, append(al.Buckets(), bucketCerts, bucketNames, bucketAPIKeys)...)
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, group: &revlog.Group{DB: db}, log: log, audit: al}
	_ = db.View(func(tx *bolt.Tx) error {
		st.epoch = log.Epoch(tx)
		return nil
	})
	return st, nil
}

// SetPublisher sets the function called with every committed change after
// its commit, in revision order and never two at once (the commits of racing
// writes run their handlers in any order; revlog.InOrder puts them back), so
// that fn may hand changes straight to a changefeed.Hub. Set it before the
// first write.
func (s *Store) SetPublisher(fn func(Entry)) {
	head, err := s.Revision()
	if err != nil {
		// Only a closed file fails to answer; nothing is written to it.
		return
	}
	s.publish = revlog.NewInOrder(head, fn).Add
}

// CommitStats says how the store's writes have been committed since it was
// opened: how many transactions, and how long groups of writes kept the
// committer busy.
func (s *Store) CommitStats() revlog.Stats { return s.group.Stats() }

// SetWriteObserver sets the function told how long each write took
// (revlog.Group.Observe), for the write latency metric. Set it before the
// first write.
func (s *Store) SetWriteObserver(fn func(time.Duration)) { s.group.Observe = fn }

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

// writeAudited runs fn in a write transaction and, when fn returns a
// change, stamps it with the next revision, appends its Entry to the
// changelog and trims the changelog to the retention. The change is published after the commit.
//
// Writes are group-committed (revlog.Group): writes that arrive while a
// commit is in flight share the next transaction and its fsync, each still
// taking its own revision in order. fn may run more than once (see Group);
// it only reads and writes the transaction, and publishes only on commit.
//
// When rec is not nil, the audit entry rec makes of the change (if any) is
// appended in the same transaction.
func (s *Store) writeAudited(rec AuditFunc, fn func(tx *bolt.Tx, rev uint64) (*Change, error)) (Change, error) {
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
		// The entry shares no memory with the records (Entry copies the
		// environment types), so the caller may change those it gets back
		// while subscribers read the published entry.
		entry := c.Entry()
		if err := s.log.Append(tx, rev, entry); err != nil {
			return err
		}
		if rec != nil {
			if e := rec(*c); e != nil {
				if err := s.audit.Append(tx, e); err != nil {
					return err
				}
			}
		}
		out = *c
		if s.publish != nil {
			tx.OnCommit(func() { s.publish(entry) })
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

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
