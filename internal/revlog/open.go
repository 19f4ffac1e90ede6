package revlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var keySchema = []byte("schema")

// Open opens, or creates, the bbolt file at path of a store made of buckets
// and a changelog kept in log. The schema version is recorded in log's meta
// bucket and checked on every open, so a build never reads a file laid out
// for another. owner names the program in the error for a file that
// another process holds open; timeout bounds the wait for it.
//
// A file or directory the group or others may read is refused (see
// checkPrivate). Only a file that does not exist is created. An existing file that is
// empty, cut short or damaged is refused with an error that names it and
// says to restore it, and is left as it was: bbolt would initialise an empty
// file as a new store (losing the data silently), and panics or faults on
// some damage, so Open checks the meta pages first, reads every page of the
// tree under a recover, and runs bbolt's consistency check before it writes.
func Open(path, owner string, timeout time.Duration, schema uint64, log Log, buckets ...[]byte) (*bolt.DB, error) {
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	switch err := checkHeader(path); {
	case errors.Is(err, fs.ErrNotExist):
		// A new store.
	case errors.Is(err, errEmpty):
		return nil, fmt.Errorf("open %s: the database file is empty (0 bytes); it was truncated or not copied whole: restore it from a backup, or delete it if %s should start with an empty store", path, owner)
	case err != nil && errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open %s: %w", path, err)
	case err != nil:
		return nil, damaged(path, err)
	}

	db, err := openChecked(path, timeout, log)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: the file is locked by another process (is another %s running on this data dir?)", path, owner)
	}
	var dmg *damageError
	if errors.As(err, &dmg) {
		return nil, damaged(path, dmg.err)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := log.Init(tx); err != nil {
			return err
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(log.Meta)
		if v := meta.Get(keySchema); v != nil && binary.BigEndian.Uint64(v) != schema {
			return fmt.Errorf("schema version %d is not supported by this build of %s (it reads version %d)", binary.BigEndian.Uint64(v), owner, schema)
		}
		if err := log.ensureEpoch(tx); err != nil {
			return err
		}
		return meta.Put(keySchema, u64(schema))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func damaged(path string, err error) error {
	return fmt.Errorf("open %s: the database file is damaged (%v): restore it from a backup", path, err)
}

// damageError marks an error found in the file's contents, as opposed to
// one in opening it (permissions, the lock).
type damageError struct{ err error }

func (e *damageError) Error() string { return e.err.Error() }

// openChecked opens the file with bbolt and checks every page of it before
// anything is written. bbolt reads the file through a memory map and trusts
// the page ids it finds there, so damage shows as a panic (a failed
// assertion) or as a fault at an address outside the map, which would end
// the process; debug.SetPanicOnFault makes the fault a panic too, and both
// become a damageError, with the file closed. Everything that touches the
// map runs in this goroutine, apart from bolt's Check, which runs only after
// the walk here has read every page it will read.
func openChecked(path string, timeout time.Duration, log Log) (db *bolt.DB, err error) {
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		switch {
		case db != nil:
			// Close after a panic inside a transaction works: bbolt's
			// View rolls back on the way out, releasing its locks.
			db.Close()
		case file != nil:
			// A panic inside bolt.Open leaves it holding the file and
			// its lock.
			file.Close()
		}
		db, err = nil, &damageError{fmt.Errorf("%s", strings.ReplaceAll(fmt.Sprint(r), "\n", "; "))}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
			return nil, &damageError{err}
		}
		return nil, err
	}
	if err := db.View(func(tx *bolt.Tx) error { return check(tx, log) }); err != nil {
		db.Close()
		return nil, &damageError{err}
	}
	return db, nil
}
