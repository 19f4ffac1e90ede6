package revlog

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds the problems named in a damage error.
const maxCheckErrors = 3

// check reads every page of the tree in tx and then runs bbolt's
// consistency check: every page below the high-water mark reachable once or
// free, every page of the right type, keys in order. An existing store must
// also hold log's meta bucket with its schema record; a file with no bucket
// at all is a new store that bbolt created but that was never written.
//
// It is cheap enough for every start (BenchmarkOpenCheck, file in the page
// cache, 2 cores): about 0.4 ms for 5,000 records of 300 bytes (a 4 MiB
// file), 7 ms for 50,000 (48 MiB); from a cold disk it reads the file once.
func check(tx *bolt.Tx, log Log) error {
	nbuckets, err := checkPages(tx)
	if err != nil {
		return err
	}
	if nbuckets > 0 {
		if m := tx.Bucket(log.Meta); m == nil || m.Get(keySchema) == nil {
			return fmt.Errorf("it has no %q bucket with a schema record; is it this program's store?", log.Meta)
		}
	}
	return nil
}

// checkPages reads every page of the tree in tx and runs bbolt's
// consistency check (see check); it returns the number of top-level
// buckets.
func checkPages(tx *bolt.Tx) (int, error) {
	var sink byte
	nbuckets := 0
	// A leaf element takes at least 16 bytes of a page, so a file of
	// tx.Size() bytes holds fewer keys than that over 16. A damaged branch
	// page whose elements point at the same pages again makes a cursor
	// visit them again and again, exponentially in the depth: more keys
	// than the file can hold means that, and the walk stops there.
	budget := tx.Size()/16 + 1
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		nbuckets++
		v, err := walk(b, &budget)
		sink ^= v
		return err
	})
	if err != nil {
		return nbuckets, err
	}
	_ = sink
	// The error becomes one line on stderr: the first few problems, joined.
	var problems []string
	n := 0
	for err := range tx.Check() {
		if n++; n <= maxCheckErrors {
			problems = append(problems, err.Error())
		}
	}
	if n > maxCheckErrors {
		problems = append(problems, fmt.Sprintf("and %d more", n-maxCheckErrors))
	}
	if n > 0 {
		return nbuckets, errors.New(strings.Join(problems, "; "))
	}
	return nbuckets, nil
}

// walk reads every key and value of b and of the buckets in it, touching
// each page a value spans, so that a page id or offset that points outside
// the file panics here rather than in a later read. It gives up when it
// has seen more keys than budget, which it counts down.
func walk(b *bolt.Bucket, budget *int64) (byte, error) {
	var sink byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if *budget--; *budget < 0 {
			return sink, errors.New("it has more keys than its size can hold: pages of its tree are reached more than once")
		}
		if len(k) > 0 {
			sink ^= k[len(k)-1]
		}
		if v == nil {
			if child := b.Bucket(k); child != nil {
				cv, err := walk(child, budget)
				sink ^= cv
				if err != nil {
					return sink, err
				}
			}
			continue
		}
		for i := 0; i < len(v); i += 1 << 10 {
			sink ^= v[i]
		}
		if len(v) > 0 {
			sink ^= v[len(v)-1]
		}
	}
	return sink, nil
}
