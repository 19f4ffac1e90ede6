package webhook

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/services/certmgr/seal"
)

// BackupFile is the webhook file as certmgr's BackupService copies it
// (backupapi.Source): its revision is the cursor, the revision of
// certmgr's changes it has recorded the events of, and its epoch that of
// the store it follows.
type BackupFile struct{ d *Dispatcher }

// BackupFile returns the webhook file's backup source.
func (d *Dispatcher) BackupFile() BackupFile { return BackupFile{d} }

// Revision returns the cursor.
func (b BackupFile) Revision() (uint64, error) {
	rev, _, err := b.d.cursor()
	return rev, err
}

// Epoch returns the epoch of the store the file follows ("" if the cursor
// cannot be read; Revision says why).
func (b BackupFile) Epoch() string {
	_, epoch, _ := b.d.cursor()
	return epoch
}

// Backup writes a consistent copy of the webhook file to w, as the store's
// backup does (revlog.SpoolCopy: one read transaction spooled to an
// unlinked file first, so a slow reader holds no transaction). Secrets
// stay sealed under the master key, which is not in the copy: the copy
// needs the master key that is current when it is taken.
func (b BackupFile) Backup(w io.Writer, start func(revlog.Copy) error) (revlog.Copy, error) {
	file, ok := b.d.db.(*kvBolt)
	if !ok {
		return revlog.Copy{}, errors.New("webhooks kept in etcd are backed up with etcd's snapshots, not through certmgr")
	}
	return revlog.SpoolCopy(file.db, w, func(tx *bolt.Tx) revlog.Copy {
		c, epoch := readCursor(tx)
		return revlog.Copy{Revision: c, Epoch: epoch}
	}, start)
}

func readCursor(tx *bolt.Tx) (uint64, string) {
	meta := tx.Bucket(bucketMeta)
	var c uint64
	if v := meta.Get(keyCursor); len(v) == 8 {
		c = binary.BigEndian.Uint64(v)
	}
	return c, string(meta.Get(keyEpoch))
}

// FileInfo is what CheckFile found in a webhook file.
type FileInfo struct {
	// Epoch and Cursor say which store the file follows and how far.
	Epoch  string
	Cursor uint64
	// Webhooks, Deliveries and Pending count its records.
	Webhooks, Deliveries, Pending int
	// KeyIDs are the ids of the master keys its webhook secrets are sealed
	// under, sorted.
	KeyIDs []string
	// Undecodable counts records that do not decode: each harms only
	// itself (a webhook that does not list, a delivery that does not send).
	Undecodable int
}

// ErrNotWebhookFile is a file that is a sound bbolt file but not a webhook
// file.
var ErrNotWebhookFile = errors.New("it is not a webhook file")

// CheckFile reads the webhook file at path, which no process may have open,
// without writing to it, and says what it holds. A file that is empty, cut
// short or damaged is refused (revlog.Inspect), as is one that lacks the
// webhook file's buckets or the epoch of the store it follows.
func CheckFile(path string) (FileInfo, error) {
	var info FileInfo
	err := revlog.Inspect(path, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketHooks, bucketDeliveries, bucketDue, bucketTracked} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: it has no %q bucket", ErrNotWebhookFile, name)
			}
		}
		info.Cursor, info.Epoch = readCursor(tx)
		if info.Epoch == "" {
			return fmt.Errorf("%w: it names no store epoch that it follows", ErrNotWebhookFile)
		}
		err := tx.Bucket(bucketHooks).ForEach(func(k, v []byte) error {
			var h Hook
			if json.Unmarshal(v, &h) != nil || string(k) != string(accountKey(h.Account, h.ID)) {
				info.Undecodable++
				return nil
			}
			info.Webhooks++
			if id := seal.KeyID(h.SealedSecret); !slices.Contains(info.KeyIDs, id) {
				info.KeyIDs = append(info.KeyIDs, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		info.Pending = tx.Bucket(bucketDue).Stats().KeyN
		return tx.Bucket(bucketDeliveries).ForEach(func(_, v []byte) error {
			var del Delivery
			if json.Unmarshal(v, &del) != nil {
				info.Undecodable++
				return nil
			}
			info.Deliveries++
			return nil
		})
	})
	slices.Sort(info.KeyIDs)
	return info, err
}

// restoreSeqGap is how far a restore moves the delivery sequence on:
// further than any number of deliveries made between a backup and its
// restore.
const restoreSeqGap = 1 << 32

// PrepareRestored readies a webhook file restored from a backup, at path
// and not open elsewhere, before certmgr starts with it. Delivery ids are
// made from a sequence number, and the deliveries made after the backup
// are not in it: without a gap, new deliveries would reuse their ids, and
// a receiver that drops ids it has seen (as it should, deliveries being at
// least once) would drop them. Deliveries still pending in the copy are
// sent again, with their own ids.
func PrepareRestored(path string) error {
	if _, err := CheckFile(path); err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var n uint64
		if v := meta.Get(keySeq); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		if n > ^uint64(0)-restoreSeqGap {
			return errors.New("its delivery sequence is exhausted")
		}
		return meta.Put(keySeq, u64(n+restoreSeqGap))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
