package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// keyKeyNext holds, in the meta bucket, the check value of the master key a
// rotation is moving the store to. It exists only while a rotation is under
// way: from the moment new values may be sealed with the next key until no
// value needs the previous one, when it replaces keyKeyCheck in one
// transaction. So the store always names every key its data may need.
var keyKeyNext = []byte("masterKeyNext")

// ErrRotationInProgress is returned by BeginKeyRotation when the store is
// already being moved to another key.
var ErrRotationInProgress = errors.New("store: a master-key rotation to another key is in progress")

// KeyNext returns the check value of the key a rotation is moving the store
// to, or nil when no rotation is under way.
func (s *Store) KeyNext() ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get(keyKeyNext))
		return nil
	})
	return v, err
}

// BeginKeyRotation records that the store is moving to the key next (its
// check value). sameKey tells whether a check value already recorded is of
// the same key, which makes the call a no-op: a rotation resumed after a
// crash begins again with the key it began with. A rotation to another key
// gives ErrRotationInProgress.
func (s *Store) BeginKeyRotation(next []byte, sameKey func(recorded []byte) bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyKeyCheck) == nil {
			return errors.New("store: the store has no master key check value to rotate from")
		}
		if cur := meta.Get(keyKeyNext); cur != nil {
			if sameKey(cur) {
				return nil
			}
			return ErrRotationInProgress
		}
		return meta.Put(keyKeyNext, slices.Clone(next))
	})
}

// Rewrap is given a certificate record that holds a sealed key and re-seals
// it under the current key in place, reporting whether it changed it. An
// error leaves that record as it was: a key that does not open harms only
// itself, and the walk goes on.
type Rewrap func(c *Certificate) (changed bool, err error)

// RewrapStats counts what a walk did.
type RewrapStats struct {
	// Rewrapped counts records written back re-sealed.
	Rewrapped int
	// Failed counts sealed keys that could not be re-sealed (damaged), left
	// as they were.
	Failed int
}

// RewrapCertificates re-seals, in one write transaction, the sealed keys of
// up to limit certificate records after the key after (nil for the first),
// and returns the last key visited (nil once the bucket is done). A record
// is read and written back in the same transaction, so a concurrent write
// to it is never lost. The record keeps its revision and no change is
// logged: its material is the same, so subscribers have nothing to learn.
func (s *Store) RewrapCertificates(after []byte, limit int, fn Rewrap) (next []byte, st RewrapStats, err error) {
	err = s.rewrapTx(func(tx *bolt.Tx) error {
		st, next = RewrapStats{}, nil
		b := tx.Bucket(bucketCerts)
		var puts [][2][]byte
		// Writes are made after the walk, so the cursor never sees its
		// bucket change under it.
		c := b.Cursor()
		k, v := seekAfter(c, after)
		for n := 0; k != nil && n < limit; k, v = c.Next() {
			n++
			next = bytes.Clone(k)
			var rec Certificate
			if json.Unmarshal(v, &rec) != nil || len(rec.SealedKey) == 0 {
				continue
			}
			changed, err := fn(&rec)
			if err != nil {
				st.Failed++
				continue
			}
			if !changed {
				continue
			}
			data, err := json.Marshal(&rec)
			if err != nil {
				return err
			}
			puts = append(puts, [2][]byte{next, data})
			st.Rewrapped++
		}
		if k == nil {
			next = nil
		}
		for _, p := range puts {
			if err := b.Put(p[0], p[1]); err != nil {
				return err
			}
		}
		if len(puts) == 0 {
			return errNoChange
		}
		return nil
	})
	return next, st, err
}

// RewrapChangelog does for up to limit changelog entries after revision
// after what RewrapCertificates does for records. Only entries of the old
// format (legacyEntry) hold sealed keys; Entries hold none. It returns the last
// revision visited, and done once the changelog is walked to its end.
func (s *Store) RewrapChangelog(after uint64, limit int, fn Rewrap) (last uint64, done bool, st RewrapStats, err error) {
	err = s.rewrapTx(func(tx *bolt.Tx) error {
		st, last, done = RewrapStats{}, after, false
		b := tx.Bucket(bucketChangelog)
		var puts [][2][]byte
		c := b.Cursor()
		k, v := c.Seek(u64key(after + 1))
		for n := 0; k != nil && n < limit; k, v = c.Next() {
			n++
			last = binary.BigEndian.Uint64(k)
			changed, failed, data, err := rewrapChange(v, fn)
			if err != nil {
				return err
			}
			st.Failed += failed
			if changed {
				puts = append(puts, [2][]byte{bytes.Clone(k), data})
				st.Rewrapped++
			}
		}
		done = k == nil
		for _, p := range puts {
			if err := b.Put(p[0], p[1]); err != nil {
				return err
			}
		}
		if len(puts) == 0 {
			return errNoChange
		}
		return nil
	})
	return last, done, st, err
}

// rewrapChange re-seals the records of one encoded changelog entry. An
// entry that does not decode is left alone.
func rewrapChange(v []byte, fn Rewrap) (changed bool, failed int, out []byte, err error) {
	// Only an entry of the old format holds sealed keys.
	var ch legacyEntry
	if json.Unmarshal(v, &ch) != nil {
		return false, 0, nil, nil
	}
	for _, c := range []*Certificate{ch.Before, ch.After} {
		if c == nil || len(c.SealedKey) == 0 {
			continue
		}
		ok, err := fn(c)
		if err != nil {
			failed++
			continue
		}
		changed = changed || ok
	}
	if !changed {
		return false, failed, nil, nil
	}
	out, err = json.Marshal(&ch)
	return true, failed, out, err
}

// FinishKeyRotation ends a rotation if no value needs the previous key: it
// looks, inside one write transaction, at every change logged after
// revision since (the start of the last complete walk): at the records an
// entry of the old format holds, and at the current record of the
// certificate an entry names, which fn must leave unchanged (fn is called
// on copies). If all do, the next key's
// check value becomes the store's check value and the rotation is over;
// otherwise done is false and nothing changes. It is also false when the
// changelog no longer reaches back to since: then another walk is needed.
func (s *Store) FinishKeyRotation(since uint64, fn Rewrap) (done bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		next := meta.Get(keyKeyNext)
		if next == nil {
			done = true // finished already (by an earlier call)
			return errNoChange
		}
		clean := true
		certs := tx.Bucket(bucketCerts)
		compacted, _, err := s.log.Since(tx, since, int(^uint(0)>>1), func(v []byte) error {
			changed, _, _, err := rewrapChange(v, fn)
			if err != nil || changed {
				clean = clean && !changed
				return err
			}
			// An entry holds no key: the record it names, if it is still
			// there, holds the key that write sealed (or a later one).
			e, err := decodeEntry(v)
			if err != nil {
				return nil // left alone, like rewrapChange does
			}
			if c, err := getCert(certs, certKey(e.Account, e.Project, e.CertificateID)); err == nil && len(c.SealedKey) > 0 {
				if ok, err := fn(c); err == nil && ok {
					clean = false
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !clean || compacted > since {
			return errNoChange
		}
		if err := meta.Put(keyKeyCheck, bytes.Clone(next)); err != nil {
			return err
		}
		done = true
		return meta.Delete(keyKeyNext)
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	return done, err
}

// rewrapTx runs fn in a write transaction; errNoChange rolls it back (and
// writes nothing) and is not an error.
func (s *Store) rewrapTx(fn func(tx *bolt.Tx) error) error {
	err := s.db.Update(fn)
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// seekAfter positions c on the first key after after (the first key when
// after is nil).
func seekAfter(c *bolt.Cursor, after []byte) ([]byte, []byte) {
	if after == nil {
		return c.First()
	}
	k, v := c.Seek(after)
	if k != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}

func u64key(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}
