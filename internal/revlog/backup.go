package revlog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

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

// Backup writes a consistent copy of the whole file to w from one read
// transaction: the copy holds exactly the writes committed before it began,
// and writers go on meanwhile. start is called with the copy's description
// before the first byte is written. The transaction lasts until the copy is
// written, so a reader that stalls holds it open; bbolt then cannot reuse
// the pages freed meanwhile and the file may grow.
func (l Log) Backup(db *bolt.DB, w io.Writer, start func(Copy) error) (Copy, error) {
	var c Copy
	err := db.View(func(tx *bolt.Tx) error {
		c = Copy{Revision: l.Head(tx), Epoch: l.Epoch(tx), Size: tx.Size()}
		if err := start(c); err != nil {
			return err
		}
		h := sha256.New()
		n, err := tx.WriteTo(io.MultiWriter(w, h))
		if err != nil {
			return fmt.Errorf("copying the database: %w", err)
		}
		if n != c.Size {
			return fmt.Errorf("copying the database: wrote %d bytes of %d", n, c.Size)
		}
		c.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return c, err
}
