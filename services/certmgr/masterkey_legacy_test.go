package certmgr_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
)

// makeLegacy turns the stopped server's store into one as the release
// before key rings wrote it: every sealed key, in records and changelog,
// and the check value in format 1, which names no key.
func makeLegacy(t *testing.T, s *server) {
	t.Helper()
	ring, err := seal.LoadKeyFile(s.cfg.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(s.cfg.MasterKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(plain, aad []byte) []byte {
		out := make([]byte, 13, 13+len(plain)+16)
		out[0] = 1
		rand.Read(out[1:13])
		return gcm.Seal(out, out[1:13], plain, append([]byte{1}, aad...))
	}
	// reseal rewrites one record (as raw JSON fields) in format 1.
	reseal := func(rec map[string]json.RawMessage) {
		var sealed []byte
		if json.Unmarshal(rec["sealedKey"], &sealed) != nil || len(sealed) == 0 {
			return
		}
		var id string
		var version int32
		json.Unmarshal(rec["id"], &id)
		json.Unmarshal(rec["version"], &version)
		aad := []byte("certbind/certmgr/private-key\x00" + id + "\x00" + strconv.Itoa(int(version)))
		plain, err := ring.Open(sealed, aad)
		if err != nil {
			t.Fatalf("opening %s: %v", id, err)
		}
		rec["sealedKey"], _ = json.Marshal(legacy(plain, aad))
	}
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		certs := tx.Bucket([]byte("certificates"))
		if err := certs.ForEach(func(k, v []byte) error {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			reseal(rec)
			out, _ := json.Marshal(rec)
			return certs.Put(k, out)
		}); err != nil {
			return err
		}
		log := tx.Bucket([]byte("changelog"))
		if err := log.ForEach(func(k, v []byte) error {
			var ch map[string]json.RawMessage
			if err := json.Unmarshal(v, &ch); err != nil {
				return err
			}
			for _, side := range []string{"before", "after"} {
				if ch[side] == nil || string(ch[side]) == "null" {
					continue
				}
				var rec map[string]json.RawMessage
				if err := json.Unmarshal(ch[side], &rec); err != nil {
					return err
				}
				reseal(rec)
				ch[side], _ = json.Marshal(rec)
			}
			out, _ := json.Marshal(ch)
			return log.Put(k, out)
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("masterKeyCheck"),
			legacy([]byte("certbind master key check v1"), []byte("certbind/seal/master-key-check")))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMasterKeyRotationOfLegacyStore: a store whose values name no key
// (written before key rings) starts, streams every key, and rotates to a
// keyring store in which every value names the new key.
func TestMasterKeyRotationOfLegacyStore(t *testing.T) {
	s := startServer(t)
	fillForRotation(t, s, 8)
	want := keysByName(t, s)
	old := keyFileID(t, s.cfg.MasterKeyFile)
	s.stop()
	makeLegacy(t, s)
	if ids := sealedKeyIDs(t, s); len(ids) != 1 || ids[""] == 0 {
		t.Fatalf("the legacy store holds keys by id %v, want all without an id", ids)
	}
	s.start()
	got := keysByName(t, s)
	for name, key := range want {
		if string(got[name]) != string(key) {
			t.Fatalf("legacy store: %s does not stream its key", name)
		}
	}
	s.run()
	if st, _, err := s.svc.MasterKey().Start(); err != nil || st.PreviousKeyID != old {
		t.Fatalf("Start = %+v, %v; want a rotation from key %s", st, err, old)
	}
	if st := waitIdle(t, s); st.PreviousKeyID != old {
		t.Fatalf("after the rotation the previous key is %q, want %s", st.PreviousKeyID, old)
	}
	s.stop()
	wantRotated(t, s, old)
	if err := os.Remove(masterkey.Files{Path: s.cfg.MasterKeyFile}.Retired(old)); err != nil {
		t.Fatal(err)
	}
	s.start()
	got = keysByName(t, s)
	for name, key := range want {
		if string(got[name]) != string(key) {
			t.Fatalf("after rotating the legacy store: %s does not stream its key", name)
		}
	}
}
