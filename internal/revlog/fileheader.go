package revlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt meta page, which bbolt writes in the machine's byte
// order: a 16-byte page header, then magic, version, page size, flags, the
// root bucket (page and sequence), the freelist page, the high-water page
// id, the transaction id and an FNV-64a checksum of the fields before it.
const (
	pageHeaderSize = 16
	metaSize       = 64
	metaChecksumAt = 56
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
)

// errEmpty marks a database file that exists but holds no bytes.
var errEmpty = errors.New("the database file is empty")

// meta is what checkHeader needs of a bbolt meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta reads the meta page at the start of b, reporting false for one
// whose magic, version or checksum is wrong (a torn or damaged page).
func parseMeta(b []byte) (meta, bool) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, false
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	e := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	if e.Uint32(m[0:]) != boltMagic || e.Uint32(m[4:]) != boltVersion || e.Uint64(m[metaChecksumAt:]) != h.Sum64() {
		return meta{}, false
	}
	return meta{
		pageSize: e.Uint32(m[8:]),
		root:     e.Uint64(m[16:]),
		freelist: e.Uint64(m[32:]),
		pgid:     e.Uint64(m[40:]),
		txid:     e.Uint64(m[48:]),
	}, true
}

// checkHeader reads the meta pages of the existing bbolt file at path and
// refuses one that bbolt would initialise over (empty), panic on, or fault
// on: no valid meta page, or fewer bytes than the meta page says the file
// holds. bbolt maps the whole file and trusts the page ids it finds, so a
// file cut short makes it read past its end, which is a fault, not an error.
// It reports os.ErrNotExist for a file that does not exist yet.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("it is a directory, not a database file")
	}
	size := info.Size()
	if size == 0 {
		return errEmpty
	}

	// bbolt takes the page size from meta page 0, and when that one is
	// damaged looks for meta page 1 at each page size it supports.
	buf := make([]byte, 64<<10+pageHeaderSize+metaSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return err
	}
	buf = buf[:n]
	var metas []meta
	if m, ok := parseMeta(buf); ok {
		metas = append(metas, m)
		if m1, ok := parseMeta(buf[min(int(m.pageSize), len(buf)):]); ok && m.pageSize > 0 {
			metas = append(metas, m1)
		}
	} else {
		for ps := 1 << 10; ps <= 64<<10; ps <<= 1 {
			if m1, ok := parseMeta(buf[min(ps, len(buf)):]); ok && int(m1.pageSize) == ps {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return fmt.Errorf("neither of its two meta pages is valid; is it a bbolt file, copied whole?")
	}
	// bbolt uses the valid meta page with the later transaction.
	m := metas[0]
	for _, o := range metas[1:] {
		if o.txid > m.txid {
			m = o
		}
	}
	ps := int64(m.pageSize)
	if ps < 1<<10 || ps&(ps-1) != 0 {
		return fmt.Errorf("its meta page gives a page size of %d bytes", ps)
	}
	if size%ps != 0 {
		return fmt.Errorf("it is %d bytes, not a whole number of %d-byte pages; it was truncated or not copied whole", size, ps)
	}
	if m.pgid < 4 || m.pgid > uint64(size/ps) {
		return fmt.Errorf("it is %d bytes but its meta page says it holds %d pages of %d bytes; it was truncated or not copied whole", size, m.pgid, ps)
	}
	if m.root < 2 || m.root >= m.pgid || (m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid)) {
		return fmt.Errorf("its meta page points outside the file (root page %d, freelist page %d, %d pages)", m.root, m.freelist, m.pgid)
	}
	if err := checkFreelist(f, m); err != nil {
		return err
	}
	return checkTree(f, m)
}

// freelistPageFlag marks bbolt's freelist page.
const freelistPageFlag = 0x10

// checkFreelist refuses a freelist page whose overflow or count reaches
// past the pages the file holds: bbolt's check marks every page of the
// freelist's span as reachable, one at a time, so an overflow near 2^32
// keeps it busy for hours and fills memory (FuzzCheckFile found such a
// file), and a count past the span makes it read past the file.
func checkFreelist(f *os.File, m meta) error {
	if m.freelist == noFreelist {
		return nil
	}
	ps := int64(m.pageSize)
	head := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(head, int64(m.freelist)*ps); err != nil {
		return fmt.Errorf("its freelist page %d cannot be read: %v", m.freelist, err)
	}
	e := binary.NativeEndian
	flags, count, overflow := e.Uint16(head[8:]), uint64(e.Uint16(head[10:])), uint64(e.Uint32(head[12:]))
	if flags&freelistPageFlag == 0 {
		return fmt.Errorf("its meta page names page %d as the freelist, which is not a freelist page (flags %#x)", m.freelist, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return fmt.Errorf("its freelist page %d spans %d more pages, past the %d pages it holds", m.freelist, overflow, m.pgid)
	}
	ids := count
	if count == 0xffff {
		// The count is in the first id's place, which it takes.
		ids = e.Uint64(head[pageHeaderSize:]) + 1
	}
	if span := uint64(overflow+1) * uint64(ps); ids > (span-pageHeaderSize)/8 {
		return fmt.Errorf("its freelist page %d lists %d page ids, more than its %d bytes hold", m.freelist, ids, span)
	}
	return nil
}

// The parts of bbolt's tree pages checkTree reads: a page header's flags,
// element count and overflow, and 16-byte elements. A branch element ends
// with the child's page id; a leaf element has flags, the key's offset from
// the element, and the key's and value's sizes, and the value of a bucket
// element starts with the bucket's root page (0 for a bucket inline in its
// parent's page, which holds no buckets).
const (
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	elementSize    = 16
	// bucketHeaderSize is a bucket value's root page and sequence, which
	// an inline bucket's page follows.
	bucketHeaderSize = 16
	// maxTreeDepth is far beyond any real tree (a B+tree of 4 KiB pages
	// is a handful of levels deep, and buckets nest a few levels).
	maxTreeDepth = 256
)

// checkTree follows the page tree of the root bucket and of every bucket
// in it, as bbolt's own check does, and refuses a tree that page ids of
// which point outside the file, at a page that is not a tree page, or at a
// page reached before: a loop, on which bbolt's check recurses without end
// (FuzzOpen found such a file). It reads each tree page once.
func checkTree(f *os.File, m meta) error {
	ps := int64(m.pageSize)
	seen := make(map[uint64]bool)
	var page []byte
	var visit func(id uint64, depth int) error
	visit = func(id uint64, depth int) error {
		switch {
		case depth > maxTreeDepth:
			return fmt.Errorf("its page tree is more than %d levels deep at page %d: pages of it point at each other", maxTreeDepth, id)
		case id < 2 || id >= m.pgid:
			return fmt.Errorf("its page tree points at page %d, outside its %d pages", id, m.pgid)
		case seen[id]:
			return fmt.Errorf("its page tree reaches page %d twice: pages of it point at each other", id)
		}
		seen[id] = true
		e := binary.NativeEndian
		var hdr [pageHeaderSize]byte
		if _, err := f.ReadAt(hdr[:], int64(id)*ps); err != nil {
			return fmt.Errorf("read page %d: %w", id, err)
		}
		flags, count, overflow := e.Uint16(hdr[8:]), int(e.Uint16(hdr[10:])), uint64(e.Uint32(hdr[12:]))
		if id+overflow >= m.pgid {
			return fmt.Errorf("page %d runs past the end of its %d pages", id, m.pgid)
		}
		if flags&(branchPageFlag|leafPageFlag) == 0 {
			return fmt.Errorf("page %d of its page tree is not a branch or leaf page", id)
		}
		size := int64(overflow+1) * ps
		if int64(cap(page)) < size {
			page = make([]byte, size)
		}
		p := page[:size]
		if _, err := f.ReadAt(p, int64(id)*ps); err != nil {
			return fmt.Errorf("read page %d: %w", id, err)
		}
		// Children are read after the elements: a child's read reuses page.
		children, err := checkElements(p, id, flags, count, 0)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := visit(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(m.root, 0)
}

// checkElements checks that the count elements of the tree page p (page id
// on disk; its bytes, overflow included) hold their keys and values inside
// p, and returns the root pages of the buckets on it. bbolt reads a key or
// value where its element says, without a bound, so one outside the page is
// a read past the mapped file, a fault that kills the process (FuzzOpen
// found such a file). A bucket inline in a value is a page of its own
// inside that value, checked the same way; depth counts the inline pages
// around p.
func checkElements(p []byte, id uint64, flags uint16, count, depth int) ([]uint64, error) {
	e := binary.NativeEndian
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("page %d holds buckets inline more than %d levels deep", id, maxTreeDepth)
	}
	if flags&(branchPageFlag|leafPageFlag) == 0 {
		return nil, fmt.Errorf("page %d of its page tree is not a branch or leaf page", id)
	}
	if pageHeaderSize+count*elementSize > len(p) {
		return nil, fmt.Errorf("page %d has more elements than fit in it", id)
	}
	var children []uint64
	for i := range count {
		at := pageHeaderSize + i*elementSize
		el := p[at:]
		if flags&branchPageFlag != 0 {
			// pos, key size, child page id.
			if int64(at)+int64(e.Uint32(el[0:]))+int64(e.Uint32(el[4:])) > int64(len(p)) {
				return nil, fmt.Errorf("a key on page %d lies outside the page", id)
			}
			children = append(children, e.Uint64(el[8:]))
			continue
		}
		// flags, pos, key size, value size.
		pos, ksize, vsize := int64(e.Uint32(el[4:])), int64(e.Uint32(el[8:])), int64(e.Uint32(el[12:]))
		if int64(at)+pos+ksize+vsize > int64(len(p)) {
			return nil, fmt.Errorf("a key or value on page %d lies outside the page", id)
		}
		if e.Uint32(el[0:])&bucketLeafFlag == 0 {
			continue
		}
		value := p[int64(at)+pos+ksize : int64(at)+pos+ksize+vsize]
		if len(value) < bucketHeaderSize {
			return nil, fmt.Errorf("a bucket on page %d is too short to be one", id)
		}
		if root := e.Uint64(value); root != 0 {
			children = append(children, root)
			continue
		}
		inline := value[bucketHeaderSize:]
		if len(inline) < pageHeaderSize {
			return nil, fmt.Errorf("a bucket inline on page %d is too short to hold its page", id)
		}
		more, err := checkElements(inline, id, e.Uint16(inline[8:]), int(e.Uint16(inline[10:])), depth+1)
		if err != nil {
			return nil, err
		}
		children = append(children, more...)
	}
	return children, nil
}
