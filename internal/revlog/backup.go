package revlog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Copy describes a consistent copy of a store's file.
type Copy struct {
	// Revision is the head revision the copy holds.
	Revision uint64
	// Epoch is the epoch of the store copied (a restore gives the restored
	// store a new one).
	Epoch string
	// Size is the copy's length in bytes.
	Size int64
	// SHA256 is the hex SHA-256 of the copy, known once it is written.
	SHA256 string
}

// Backup writes a consistent copy of the whole file to w: the copy holds
// exactly the writes committed before it began, and writers go on
// meanwhile. start is called with the copy's description before the first
// byte is written.
//
// The copy is first written from one read transaction to a file of its own
// beside the database (unlinked at once, so that nothing is left behind by
// a crash), and only then, the transaction closed, sent to w. A reader that
// stalls (a slow or stopped client) thus holds no transaction: bbolt cannot
// grow its file's mapping while one is open, so every write that needed a
// bigger file would wait for the reader. The cost is the copy's size on the
// database's disk for as long as w takes.
func (l Log) Backup(db *bolt.DB, w io.Writer, start func(Copy) error) (Copy, error) {
	return SpoolCopy(db, w, func(tx *bolt.Tx) Copy { return Copy{Revision: l.Head(tx), Epoch: l.Epoch(tx)} }, start)
}

// SpoolCopy is Log.Backup for any bbolt file: describe gives the copy's
// revision and epoch, read in the copy's own transaction (SpoolCopy fills
// in the size and SHA-256).
func SpoolCopy(db *bolt.DB, w io.Writer, describe func(*bolt.Tx) Copy, start func(Copy) error) (Copy, error) {
	spool, err := os.CreateTemp(filepath.Dir(db.Path()), ".backup-*")
	if err != nil {
		return Copy{}, fmt.Errorf("copying the database: %w", err)
	}
	defer spool.Close()
	if err := os.Remove(spool.Name()); err != nil {
		return Copy{}, fmt.Errorf("copying the database: %w", err)
	}
	var c Copy
	h := sha256.New()
	err = db.View(func(tx *bolt.Tx) error {
		c = describe(tx)
		c.Size = tx.Size()
		n, err := tx.WriteTo(io.MultiWriter(spool, h))
		if err != nil {
			return fmt.Errorf("copying the database: %w", err)
		}
		if n != c.Size {
			return fmt.Errorf("copying the database: wrote %d bytes of %d", n, c.Size)
		}
		return nil
	})
	if err != nil {
		return Copy{}, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return Copy{}, fmt.Errorf("copying the database: %w", err)
	}
	if err := start(c); err != nil {
		return Copy{}, err
	}
	if n, err := io.Copy(w, spool); err != nil {
		return Copy{}, fmt.Errorf("sending the copy: %w", err)
	} else if n != c.Size {
		return Copy{}, fmt.Errorf("sending the copy: sent %d bytes of %d", n, c.Size)
	}
	c.SHA256 = hex.EncodeToString(h.Sum(nil))
	return c, nil
}
