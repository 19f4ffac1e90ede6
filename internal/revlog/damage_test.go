package revlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	testLog    = Log{Log: []byte("log"), Meta: []byte("meta"), Retention: 10}
	testBucket = []byte("things")
)

// buildStore writes a store of n records of about 300 bytes, and a few
// values that span several pages, and returns its file's bytes.
func buildStore(t testing.TB, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(testBucket)
			for j := i; j < min(i+500, n); j++ {
				if err := b.Put(fmt.Appendf(nil, "key-%06d", j), bytes.Repeat([]byte{byte(j)}, 300)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(testBucket).Put([]byte("zz-large"), bytes.Repeat([]byte("L"), 20000))
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

// layout finds pages to damage in a store built by buildStore: the root of
// its records bucket (a branch page) and that root's first child (a leaf).
type layout struct {
	pageSize     int
	branch, leaf int // page ids
}

func findLayout(t *testing.T, data []byte) layout {
	t.Helper()
	m, ok := parseMeta(data)
	if !ok {
		t.Fatal("meta page 0 of a fresh store is not valid")
	}
	path := filepath.Join(t.TempDir(), "l.db")
	os.WriteFile(path, data, 0o600)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var l layout
	l.pageSize = int(m.pageSize)
	db.View(func(tx *bolt.Tx) error {
		l.branch = int(tx.Bucket(testBucket).Root())
		return nil
	})
	page := data[l.branch*l.pageSize:]
	if page[8] != 0x01 {
		t.Fatalf("page %d has flags %#x, want a branch page", l.branch, page[8])
	}
	// A branch element is pos, ksize (uint32) and the child's page id;
	// follow the first child down to a leaf.
	for l.leaf = l.branch; data[l.leaf*l.pageSize+8] == 0x01; {
		l.leaf = int(binary.NativeEndian.Uint64(data[l.leaf*l.pageSize+pageHeaderSize+8:]))
	}
	if data[l.leaf*l.pageSize+8] != 0x02 {
		t.Fatalf("page %d is not a leaf page", l.leaf)
	}
	return l
}

// leafElem returns the file offsets of the key and value of element i of
// the leaf page at off (an element is flags, pos, ksize, vsize as uint32,
// pos counted from the element).
func leafElem(data []byte, off, i int) (key, value int) {
	e := off + pageHeaderSize + 16*i
	pos := int(binary.NativeEndian.Uint32(data[e+4:]))
	ksize := int(binary.NativeEndian.Uint32(data[e+8:]))
	return e + pos, e + pos + ksize
}

// TestOpenRefusesDamagedFile damages a store of a few thousand records in
// the ways a disk, a crash or a bad copy does, and opens it: every damage
// Open can see is refused with an error that names the file and what to
// do, never a panic or fault, and the file is left as it was. Damage to
// the bytes of a key or value that keeps the tree's shape is not seen:
// bbolt keeps no checksum of its data pages.
func TestOpenRefusesDamagedFile(t *testing.T) {
	good := buildStore(t, 3000)
	l := findLayout(t, good)
	ps := l.pageSize
	flip := func(offs ...int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			for _, o := range offs {
				b[o] ^= 0xff
			}
			return b
		}
	}
	leafKey, leafValue := leafElem(good, l.leaf*ps, 1)

	tests := []struct {
		name   string
		damage func([]byte) []byte
		want   string // "" for a file that opens
	}{
		{"empty", func([]byte) []byte { return nil }, "is empty (0 bytes)"},
		{"truncated to half", func(b []byte) []byte { return bytes.Clone(b[:len(b)/2/ps*ps]) }, "it was truncated"},
		{"truncated mid-page", func(b []byte) []byte { return bytes.Clone(b[:len(b)/2+100]) }, "not a whole number of"},
		{"truncated to one page", func(b []byte) []byte { return bytes.Clone(b[:ps]) }, "it was truncated"},
		{"truncated to 100 bytes", func(b []byte) []byte { return bytes.Clone(b[:100]) }, "not a whole number of"},
		{"random bytes", func(b []byte) []byte {
			r := rand.New(rand.NewPCG(1, 2))
			out := make([]byte, len(b))
			for i := range out {
				out[i] = byte(r.Uint32())
			}
			return out
		}, "meta pages is valid"},
		{"zeroed", func(b []byte) []byte { return make([]byte, len(b)) }, "meta pages is valid"},
		// bbolt keeps two meta pages and falls back to the other when one
		// fails its checksum, as after a crash mid-commit; the file opens
		// at the transaction before.
		{"flipped byte in one meta page", flip(pageHeaderSize + 20), ""},
		{"flipped byte in both meta pages", flip(pageHeaderSize+20, ps+pageHeaderSize+20), "meta pages is valid"},
		{"flipped page id in a branch page", flip(l.branch*ps + pageHeaderSize + 8 + 5), "damaged"},
		{"flipped page type of a leaf page", flip(l.leaf*ps + 8), "damaged"},
		{"flipped element offset in a leaf page", flip(l.leaf*ps + pageHeaderSize + 16 + 6), "damaged"},
		// Only bbolt's Check finds this one: the tree reads fine, but a
		// key is out of order, so lookups of it or its neighbours fail.
		{"flipped byte in a key", flip(leafKey), "needs to be"},
		// Nothing finds this one at open.
		{"flipped byte in a value", flip(leafValue), ""},
		{"flipped page id in the freelist", flip(int(mustMeta(t, good).freelist)*ps + pageHeaderSize + 7), "damaged"},
		// bbolt's check marks each page of the freelist's span, one by
		// one: an overflow near 2^32 kept it busy for hours (FuzzCheckFile
		// found it).
		{"freelist overflow near 2^32", setFreelist(t, good, 12, 4, 0xfffffff0), "spans 4294967280 more pages"},
		{"freelist count past its page", setFreelist(t, good, 10, 2, 0xfffe), "more than its"},
		{"freelist page not a freelist", setFreelist(t, good, 8, 2, leafPageFlag), "not a freelist page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			data := tt.damage(good)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Open: %v, want it to open", err)
				}
				db.Close()
				return
			}
			if err == nil {
				db.Close()
				t.Fatalf("Open of a file %s succeeded, want an error containing %q", tt.name, tt.want)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "open "+path+": ") || strings.Contains(msg, "\n") {
				t.Errorf("Open: %q, want one line naming %s and containing %q", msg, path, tt.want)
			}
			if !strings.Contains(msg, "restore it from a backup") {
				t.Errorf("Open: %q does not say to restore the file", msg)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, data) {
				t.Errorf("Open changed the refused file (%d bytes before, %d after)", len(data), len(after))
			}
		})
	}
}

// setFreelist returns a damage that writes v, of size bytes, at off in
// the header of the freelist page.
func setFreelist(t *testing.T, good []byte, off, size int, v uint64) func([]byte) []byte {
	m := mustMeta(t, good)
	at := int(m.freelist)*int(m.pageSize) + off
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		switch size {
		case 2:
			binary.NativeEndian.PutUint16(b[at:], uint16(v))
		case 4:
			binary.NativeEndian.PutUint32(b[at:], uint32(v))
		}
		return b
	}
}

func mustMeta(t *testing.T, data []byte) meta {
	m0, ok0 := parseMeta(data)
	m1, ok1 := parseMeta(data[m0.pageSize:])
	if !ok0 || !ok1 {
		t.Fatal("a fresh store has an invalid meta page")
	}
	if m1.txid > m0.txid {
		return m1
	}
	return m0
}

// TestWalkMissesKeyOrder shows why Open runs bbolt's Check after reading
// every page: a key flipped out of order reads back without complaint.
func TestWalkMissesKeyOrder(t *testing.T) {
	good := buildStore(t, 3000)
	l := findLayout(t, good)
	key, _ := leafElem(good, l.leaf*l.pageSize, 1)
	data := bytes.Clone(good)
	data[key] ^= 0xff
	path := filepath.Join(t.TempDir(), "s.db")
	os.WriteFile(path, data, 0o600)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		budget := tx.Size()
		if _, err := walk(tx.Bucket(testBucket), &budget); err != nil { // reads every page without a panic
			t.Errorf("walk: %v", err)
		}
		if err := check(tx, testLog); err == nil || !strings.Contains(err.Error(), "needs to be") {
			t.Errorf("check of a file with a key out of order: %v, want the order named", err)
		}
		return nil
	})
}

func TestOpenCreatesOnlyAMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, "tester", time.Second, 1, testLog, testBucket)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	db.Close()

	// A bbolt file of another program: valid, but not a store.
	other := filepath.Join(dir, "other.db")
	odb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	odb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	odb.Close()
	if _, err := Open(other, "tester", time.Second, 1, testLog, testBucket); err == nil || !strings.Contains(err.Error(), "schema record") {
		t.Errorf("Open of another program's bbolt file: %v, want it refused", err)
	}

	// A directory where the file should be.
	if err := os.Mkdir(filepath.Join(dir, "d.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "d.db"), "tester", time.Second, 1, testLog); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Open of a directory: %v", err)
	}
}

// BenchmarkOpenCheck measures the cost of the check Open runs on a store
// of a few thousand records.
func BenchmarkOpenCheck(b *testing.B) {
	for _, n := range []int{1000, 5000, 50000} {
		data := buildStore(b, n)
		path := filepath.Join(b.TempDir(), "s.db")
		os.WriteFile(path, data, 0o600)
		b.Run(fmt.Sprintf("records=%d/%dKiB/walk+Check", n, len(data)>>10), func(b *testing.B) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			for b.Loop() {
				if err := db.View(func(tx *bolt.Tx) error { return check(tx, testLog) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("records=%d/%dKiB/Open", n, len(data)>>10), func(b *testing.B) {
			for b.Loop() {
				db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}

// FuzzOpen opens files made of arbitrary bytes: Open must return an error
// or a working store, and never panic or fault.
func FuzzOpen(f *testing.F) {
	good := buildStore(f, 20)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:4096])
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f.db")
		os.Remove(path)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
		if err != nil {
			return
		}
		defer db.Close()
		if err := db.View(func(tx *bolt.Tx) error { return check(tx, testLog) }); err != nil {
			t.Errorf("a file Open accepted fails the check afterwards: %v", err)
		}
	})
}

// loopedBranch returns a copy of a store built by buildStore whose records
// bucket's root (a branch page) has its last child pointer turned back at
// itself: a cursor that reaches that element starts the whole tree again,
// and again, without end. FuzzOpen found a file like it, on which Open
// walked the same pages until the fuzzer gave up on it.
func loopedBranch(t *testing.T) []byte {
	t.Helper()
	good := buildStore(t, 3000)
	l := findLayout(t, good)
	data := bytes.Clone(good)
	off := l.branch * l.pageSize
	count := int(binary.NativeEndian.Uint16(data[off+10:]))
	if count < 2 {
		t.Fatalf("the root branch page has %d elements, want several", count)
	}
	last := off + pageHeaderSize + (count-1)*elementSize
	binary.NativeEndian.PutUint64(data[last+8:], uint64(l.branch))
	return data
}

// TestOpenRefusesLoopedTree: Open refuses a file whose page tree loops
// back on itself, naming the damage, rather than walk it for ever.
func TestOpenRefusesLoopedTree(t *testing.T) {
	data := loopedBranch(t)
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, "tester", time.Second, 1, testLog, testBucket)
	if err == nil {
		db.Close()
		t.Fatal("Open of a file whose tree loops succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "damaged") || !strings.Contains(msg, "restore it from a backup") {
		t.Errorf("Open: %q, want the file called damaged and a restore advised", msg)
	}
}

// TestWalkStopsOnLoopedTree checks walk's own bound, the defence behind
// checkTree: over a tree that loops, bbolt's cursor never runs out of
// keys, and walk must give up once it has seen more keys than the file can
// hold. Without the bound this test never ends.
func TestWalkStopsOnLoopedTree(t *testing.T) {
	data := loopedBranch(t)
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// bbolt reads no tree page at open, so it opens the file; the walk is
	// what meets the loop.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		start := tx.Size()/16 + 1
		budget := start
		_, err := walk(tx.Bucket(testBucket), &budget)
		if err == nil || !strings.Contains(err.Error(), "more keys than its size can hold") {
			t.Errorf("walk over a looped tree: %v, want it stopped by its bound", err)
		}
		if visited := start - budget; visited > start+1 {
			t.Errorf("walk read %d keys with a bound of %d", visited, start)
		}
		return nil
	})
}
