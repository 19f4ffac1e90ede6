package webhook

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/certmgr/seal"
)

// testFile writes a webhook file with hooks webhooks, each with a secret
// sealed under a key of its own seed, and one delivery each (pending),
// and returns its bytes.
func testFile(t testing.TB, hooks int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhooks.db")
	file, err := openBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	db := file.db
	sealer, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyEpoch, []byte("epoch-1")); err != nil {
			return err
		}
		if err := meta.Put(keyCursor, u64(42)); err != nil {
			return err
		}
		for i := range hooks {
			h := &Hook{ID: "wh_" + string(rune('a'+i)), Account: "acme", Name: "hook" + string(rune('a'+i)), URL: "https://example.com/", CreatedAt: time.Unix(0, 0)}
			if h.SealedSecret, err = sealer.Seal([]byte("whsec_x"), secretAAD(h)); err != nil {
				return err
			}
			if err := putJSON(boltTx{tx}, bucketHooks, accountKey(h.Account, h.ID), h); err != nil {
				return err
			}
			seq, _ := nextSeq(boltTx{tx})
			del := Delivery{ID: "dlv", Seq: seq, Account: "acme", WebhookID: h.ID, Event: EventCreated, State: StatePending}
			if err := putJSON(boltTx{tx}, bucketDeliveries, deliveryKey("acme", seq), del); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDue).Put(u64(seq), []byte("acme")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editedFile is testFile(1) changed by edit.
func editedFile(t *testing.T, edit func(tx *bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhooks.db")
	if err := os.WriteFile(path, testFile(t, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
	db.Close()
	data, _ := os.ReadFile(path)
	return data
}

func TestCheckFile(t *testing.T) {
	good := testFile(t, 2)
	path := filepath.Join(t.TempDir(), "webhooks.db")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(bytes.Repeat([]byte{7}, 32))
	if info.Epoch != "epoch-1" || info.Cursor != 42 || info.Webhooks != 2 || info.Deliveries != 2 || info.Pending != 2 ||
		len(info.KeyIDs) != 1 || info.KeyIDs[0] != sealer.ID() || info.Undecodable != 0 {
		t.Fatalf("CheckFile = %+v", info)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, good) {
		t.Fatal("CheckFile wrote to the file")
	}

	// A hook record that does not decode harms only itself.
	odd := editedFile(t, func(tx *bolt.Tx) error { return tx.Bucket(bucketHooks).Put([]byte("acme\x00wh_z"), []byte("{")) })
	if err := os.WriteFile(path, odd, 0o600); err != nil {
		t.Fatal(err)
	}
	if info, err := CheckFile(path); err != nil || info.Undecodable != 1 || info.Webhooks != 1 {
		t.Fatalf("a file with an undecodable webhook: %+v, %v", info, err)
	}
}

func TestCheckFileRefuses(t *testing.T) {
	good := testFile(t, 1)
	flipped := bytes.Clone(good)
	// The first meta page's checksum, and the second's: no valid meta.
	flipped[16+20] ^= 0xff
	flipped[4096+16+20] ^= 0xff
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "is empty"},
		{"not bbolt", []byte(strings.Repeat("certbind backup ", 512)), "is damaged"},
		{"cut short", good[:len(good)/2], "is damaged"},
		{"no valid meta page", flipped, "is damaged"},
		{"a bbolt file of something else", otherBolt(t), "it is not a webhook file: it has no \"meta\" bucket"},
		{"no due bucket", editedFile(t, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDue) }), "it has no \"due\" bucket"},
		{"no epoch", editedFile(t, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyEpoch) }), "names no store epoch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "webhooks.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := CheckFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckFile = %v, want an error that says %q", err, tc.want)
			}
			if err := PrepareRestored(path); err == nil {
				t.Fatal("PrepareRestored accepted the file")
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, tc.data) {
				t.Fatal("a refused file was changed")
			}
		})
	}
	if _, err := CheckFile(filepath.Join(t.TempDir(), "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}

// otherBolt is a sound bbolt file with buckets of another program.
func otherBolt(t *testing.T) []byte {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("certificates"))
		return b.Put([]byte("k"), []byte("v"))
	})
	db.Close()
	data, _ := os.ReadFile(path)
	return data
}

// PrepareRestored moves the delivery sequence on, and touches nothing
// else.
func TestPrepareRestored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.db")
	if err := os.WriteFile(path, testFile(t, 2), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := CheckFile(path)
	if err := PrepareRestored(path); err != nil {
		t.Fatal(err)
	}
	after, err := CheckFile(path)
	if err != nil || after.Epoch != before.Epoch || after.Webhooks != 2 || after.Deliveries != 2 {
		t.Fatalf("after PrepareRestored: %+v %v", after, err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if n := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySeq)); n != 2+restoreSeqGap {
			t.Errorf("sequence %d, want %d", n, 2+restoreSeqGap)
		}
		return nil
	})
}

// FuzzCheckFile reads files made of arbitrary bytes: CheckFile returns an
// error or what the file holds, and never panics or faults.
func FuzzCheckFile(f *testing.F) {
	good := testFile(f, 3)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:4096])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "webhooks.db")
		os.Remove(path)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		info, err := CheckFile(path)
		if err == nil && info.Epoch == "" {
			t.Fatalf("a file without an epoch was accepted: %+v", info)
		}
	})
}
