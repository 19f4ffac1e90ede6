package store

import (
	"io"

	"github.com/certbind/certbind/internal/revlog"
)

// Epoch returns the store's epoch: revisions are comparable only within
// one. A store restored from a backup has a new epoch (Restamp).
func (s *Store) Epoch() string { return s.epoch }

// Backup writes a consistent copy of the store's file to w (see
// revlog.Log.Backup); start receives its revision, epoch and size first.
// Sealed keys stay sealed in the copy.
func (s *Store) Backup(w io.Writer, start func(revlog.Copy) error) (revlog.Copy, error) {
	return s.log.Backup(s.db, w, start)
}

// Restamp opens the store file at path, which must not be open elsewhere,
// checks it as Open does, and gives it a new epoch, which it returns. A
// restore runs it on the restored file before the service starts.
func Restamp(path string) (string, error) {
	s, err := Open(path, Options{})
	if err != nil {
		return "", err
	}
	epoch, err := s.log.Restamp(s.db)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return epoch, err
}
