package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// benchmarkCreates measures fsynced certificate creates from writers
// concurrent goroutines. Group commit is what lets many writers go faster
// than one: compare the ns/op of the variants.
func benchmarkCreates(b *testing.B, writers int) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := range writers {
		wg.Go(func() {
			for range per {
				i := n.Add(1)
				c := newCert("acme", "shop", fmt.Sprintf("c%dw%d", i, w))
				if _, err := s.CreateCertificate(c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "creates/s")
}

func BenchmarkCreates1(b *testing.B)   { benchmarkCreates(b, 1) }
func BenchmarkCreates32(b *testing.B)  { benchmarkCreates(b, 32) }
func BenchmarkCreates128(b *testing.B) { benchmarkCreates(b, 128) }
