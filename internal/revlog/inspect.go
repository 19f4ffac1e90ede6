package revlog

import (
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

// Inspect reads the bbolt file at path, which no process may have open
// for writing, without writing to it: a file from outside (a backup) that
// is checked before it is put to use. A file that is empty, cut short or
// damaged is refused as Open refuses it (its meta pages first, then every
// page of its tree read under a recover, then bbolt's consistency check);
// then fn runs in a read transaction, under the same recover, so that a
// reader of the file's records cannot crash the process either.
func Inspect(path string, fn func(tx *bolt.Tx) error) (err error) {
	switch err := checkHeader(path); {
	case errors.Is(err, errEmpty):
		return errors.New("the file is empty (0 bytes)")
	case err != nil && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)):
		return err
	case err != nil:
		return fmt.Errorf("the file is damaged (%v)", err)
	}
	var db *bolt.DB
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		switch {
		case db != nil:
			db.Close()
		case file != nil:
			file.Close()
		}
		err = fmt.Errorf("the file is damaged (%s)", strings.ReplaceAll(fmt.Sprint(r), "\n", "; "))
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		ReadOnly: true,
		Timeout:  time.Second,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
			return fmt.Errorf("the file is damaged (%v)", err)
		}
		if errors.Is(err, bolterrors.ErrTimeout) {
			return errors.New("the file is locked by another process")
		}
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		if _, err := checkPages(tx); err != nil {
			return fmt.Errorf("the file is damaged (%v)", err)
		}
		return fn(tx)
	})
	cerr := db.Close()
	db = nil
	if err == nil {
		err = cerr
	}
	return err
}
