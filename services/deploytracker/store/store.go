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
	bucketMeta        = []byte("meta")
	bucketChangelog   = []byte("changelog")
	bucketDeployments = []byte("deployments")
	bucketIDs         = []byte("ids")
	bucketPending     = []byte("pending")
	bucketAudit       = []byte("audit")
	bucketAuditN      = []byte("auditcounts")
)

// schemaVersion is the layout of the file this build reads and writes.
const schemaVersion = 1

// DefaultRetention is how many changelog entries are kept by default.
const DefaultRetention = 10000

// Errors.
var (
	// ErrNotFound: no such deployment.
	ErrNotFound = errors.New("deployment not found")
	// ErrPendingGone: the deploy's in-progress record is no longer there
	// (dropped at a restart), so it may not commit.
	ErrPendingGone = errors.New("deploy in progress was dropped")
)

// Options tune a Store.
type Options struct {
	Retention int
	Timeout   time.Duration
	// Audit bounds the audit trail; zero fields take audit's defaults.
	Audit audit.Retention
}

// Store is the deploytracker's bbolt-backed state.
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
	db, err := revlog.Open(path, "deploytracker", opts.Timeout, schemaVersion, log, append(al.Buckets(), bucketDeployments, bucketIDs, bucketPending)...)
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

// SetWriteObserver sets the function told how long each write took
// (revlog.Group.Observe), for the write latency metric. Set it before the
// first write.
func (s *Store) SetWriteObserver(fn func(time.Duration)) { s.group.Observe = fn }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Revision returns the revision of the last committed change.
func (s *Store) Revision() (uint64, error) {
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = s.log.Head(tx)
		return nil
	})
	return rev, err
}

// writeAudited runs fn in a write transaction, group-committed with
// concurrent writes (fn may run more than once; see revlog.Group), and
// appends the Entry of the change it returns to the changelog under the next
// revision, publishing it after the commit. When rec is not nil, the audit
// entry rec makes of the change is appended in the same transaction.
func (s *Store) writeAudited(rec AuditFunc, fn func(tx *bolt.Tx, rev uint64) (*Change, error)) (Change, error) {
	var out Change
	err := s.group.Update(func(tx *bolt.Tx) error {
		rev := s.log.Head(tx) + 1
		c, err := fn(tx, rev)
		if err != nil {
			return err
		}
		c.Revision = rev
		entry := c.Entry()
		if err := s.log.Append(tx, rev, entry); err != nil {
			return err
		}
		if rec != nil {
			e := rec(*c)
			if err := s.audit.Append(tx, &e); err != nil {
				return err
			}
		}
		out = c.clone()
		if s.publish != nil {
			tx.OnCommit(func() { s.publish(entry) })
		}
		return nil
	})
	if err != nil {
		return Change{}, err
	}
	return out, nil
}

// ChangesSince returns up to limit changes after rev, the compaction point
// (every change after it is kept) and the head.
func (s *Store) ChangesSince(rev uint64, limit int) (changes []Entry, compacted, head uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		compacted, head, err = s.log.Since(tx, rev, limit, func(v []byte) error {
			c, err := decodeEntry(v)
			if err != nil {
				return err
			}
			changes = append(changes, c)
			return nil
		})
		return err
	})
	return changes, compacted, head, err
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
