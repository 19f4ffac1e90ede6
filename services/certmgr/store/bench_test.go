package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/audit"
)

// benchmarkCreates measures fsynced certificate creates from writers
// concurrent goroutines. Group commit is what lets many writers go faster
// than one: compare the ns/op of the variants.
func benchmarkCreates(b *testing.B, writers int) { benchmarkCreatesWith(b, writers, false) }

// benchmarkCreatesWith is benchmarkCreates; audited appends each create's
// audit entry in its transaction, as certmgr does.
func benchmarkCreatesWith(b *testing.B, writers int, audited bool) {
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
				create := s.CreateCertificate
				if audited {
					create = func(c *Certificate) (Change, error) { return s.CreateCertificateAudited(benchAudit, c) }
				}
				if _, err := create(c); err != nil {
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

func BenchmarkCreatesAudited1(b *testing.B)  { benchmarkCreatesWith(b, 1, true) }
func BenchmarkCreatesAudited32(b *testing.B) { benchmarkCreatesWith(b, 32, true) }

func benchAudit(ch Change) *audit.Entry {
	return &audit.Entry{Time: time.Now(), Actor: audit.ActorOf("admin"), Action: "certificate.create", Result: audit.ResultOK,
		Resource: audit.Resource{Kind: audit.KindCertificate, Account: ch.Account, Project: ch.Project, ID: ch.CertificateID, Name: ch.After.Name}}
}
