package revlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBackupStalledReaderHoldsNoWriter: a backup whose reader stops
// reading (a stalled client) must not hold up writers. bbolt cannot grow
// its file's mapping while a read transaction is open, so a copy streamed
// from the transaction to a reader that stalls would block every write
// that needs a bigger file until the reader goes on.
func TestBackupStalledReaderHoldsNoWriter(t *testing.T) {
	log := Log{Log: []byte("log"), Meta: []byte("meta"), Retention: 10}
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), "tester", time.Second, 1, log, []byte("things"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(from, n int) error {
		return db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("things"))
			for i := from; i < from+n; i++ {
				if err := b.Put(fmt.Appendf(nil, "k%08d", i), bytes.Repeat([]byte("v"), 1024)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := put(0, 100); err != nil {
		t.Fatal(err)
	}

	// A reader that takes the description and the first bytes, then
	// nothing more for as long as the writes take.
	pr, pw := io.Pipe()
	started := make(chan Copy, 1)
	type result struct {
		c   Copy
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := log.Backup(db, pw, func(c Copy) error { started <- c; return nil })
		pw.CloseWithError(err)
		done <- result{c, err}
	}()
	want := <-started
	first := make([]byte, 4096)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatal(err)
	}

	// Writes that grow the file well past its mapping must go through.
	wrote := make(chan error, 1)
	go func() {
		for i := range 20 {
			if err := put(100+i*1000, 1000); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		pr.Close()
		t.Fatal("writes that grow the file waited for a stalled backup reader for 10s")
	}

	// The copy is still whole and of the state when it began.
	rest, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	copied := append(first, rest...)
	sum := sha256.Sum256(copied)
	if int64(len(copied)) != want.Size || r.c.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("copied %d bytes of SHA-256 %x; the description said %d bytes, the result %s", len(copied), sum, want.Size, r.c.SHA256)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := writeFile(path, copied); err != nil {
		t.Fatal(err)
	}
	cp, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var n int
	cp.View(func(tx *bolt.Tx) error { n = tx.Bucket([]byte("things")).Stats().KeyN; return nil })
	if n != 100 {
		t.Fatalf("the copy holds %d records, want the 100 written before it began", n)
	}
}

func writeFile(path string, b []byte) error {
	return os.WriteFile(path, b, 0o600)
}
