package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// TestDevDamagedDatabase uploads a certificate through the real `certbind
// dev`, stops it, damages certmgr.db the ways a disk or a bad copy does, and
// starts again: dev must refuse with one error line naming the file, never
// panic, and leave the file as it was, not start over an empty store.
func TestDevDamagedDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	data := devWithCertificate(t, bin, "kept")
	good, err := os.ReadFile(filepath.Join(data, "certmgr", "certmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	goodDeploy, err := os.ReadFile(filepath.Join(data, "deploytracker", "deploytracker.db"))
	if err != nil {
		t.Fatal(err)
	}

	t.Logf("certmgr.db: %d bytes, %d pages in use", len(good), inUse(good))
	certmgrDB := filepath.Join("certmgr", "certmgr.db")
	tests := []struct {
		name   string
		file   string // under the data dir; certmgr.db if empty
		damage func([]byte) []byte
		want   string
	}{
		{"truncated to 0 bytes", "", func([]byte) []byte { return nil }, "empty"},
		// bbolt grows the file ahead of its use, so cutting the free tail
		// off harms nothing; this cuts the pages in use in half.
		{"truncated to half", "", func(b []byte) []byte { return b[:inUse(b)/2*pageSize(b)] }, "truncated"},
		{"truncated mid-page", "", func(b []byte) []byte { return b[:len(b)/2+100] }, "truncated"},
		{"flipped type of the root page", "", func(b []byte) []byte {
			b = bytes.Clone(b)
			b[rootPage(b)+8] ^= 0xff
			return b
		}, "damaged"},
		{"deploytracker.db truncated to 0 bytes", filepath.Join("deploytracker", "deploytracker.db"), func([]byte) []byte { return nil }, "empty"},
		{"deploytracker.db truncated mid-page", filepath.Join("deploytracker", "deploytracker.db"), func([]byte) []byte { return goodDeploy[:len(goodDeploy)/2+100] }, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case starts from a copy of the data dir the first dev
			// left, so master.key and deploytracker.db say it was in use.
			data2 := filepath.Join(t.TempDir(), "data")
			copyDir(t, data, data2)
			if tt.file == "" {
				tt.file = certmgrDB
			}
			db := filepath.Join(data2, tt.file)
			damaged := tt.damage(good)
			if err := os.WriteFile(db, damaged, 0o600); err != nil {
				t.Fatal(err)
			}

			devFails(t, bin, data2, nil, db, tt.want)
			after, err := os.ReadFile(db)
			if err != nil || !bytes.Equal(after, damaged) {
				t.Errorf("dev changed the damaged file (%d bytes before, %d after, %v)", len(damaged), len(after), err)
			}
		})
	}
}

func pageSize(b []byte) int { return int(binary.NativeEndian.Uint32(b[16+8:])) }

// inUse returns the high-water mark the newer meta page of b gives: how
// many pages of the file hold data.
func inUse(b []byte) int { return int(binary.NativeEndian.Uint64(b[newerMeta(b)+40:])) }

// newerMeta returns the file offset of the meta of the newer meta page (a
// meta page is a 16-byte page header, then magic, version, page size,
// flags, root page id, sequence, freelist, high-water mark, transaction
// id).
func newerMeta(b []byte) int {
	m0, m1 := 16, pageSize(b)+16
	if binary.NativeEndian.Uint64(b[m1+48:]) > binary.NativeEndian.Uint64(b[m0+48:]) {
		return m1
	}
	return m0
}

// rootPage returns the file offset of the page that holds the root bucket.
func rootPage(b []byte) int {
	return int(binary.NativeEndian.Uint64(b[newerMeta(b)+16:])) * pageSize(b)
}

// copyDir copies the regular files under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
