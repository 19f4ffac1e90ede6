package storebench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/certbind/certbind/bench/internal/benchkit"
	"github.com/certbind/certbind/services/certmgr/store"
)

// runStoreRow opens a fresh certmgr store in dir and has n writers call it
// directly, one create at a time each, for d: what the group commit gives
// without the API's gRPC and the checks of the material in front of it.
func runStoreRow(dir string, n int, d time.Duration, tmpl *store.Certificate) (Row, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Row{}, err
	}
	s, err := store.Open(filepath.Join(dir, "certmgr.db"), store.Options{})
	if err != nil {
		return Row{}, err
	}
	defer s.Close()
	lats := make([][]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	cpu0, cpuOK := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := range n {
		wg.Go(func() {
			for seq := 0; time.Now().Before(deadline); seq++ {
				c := *tmpl
				c.ID = fmt.Sprintf("crt_w%ds%d", w, seq)
				c.Name = fmt.Sprintf("client%dCert%d", w, seq)
				t0 := time.Now()
				if _, err := s.CreateCertificate(&c); err != nil {
					errs <- fmt.Errorf("create %s: %w", c.Name, err)
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := processCPU()
	close(errs)
	if err := <-errs; err != nil {
		return Row{}, err
	}
	var lat []time.Duration
	for _, l := range lats {
		lat = append(lat, l...)
	}
	q := benchkit.Quantiles(lat, 0.5, 0.99)
	row := Row{Clients: n, Creates: len(lat), CreatesPerSec: float64(len(lat)) / elapsed.Seconds(), P50: q[0], P99: q[1]}
	if cpuOK && len(lat) > 0 {
		row.CPUPerCreate = (cpu1 - cpu0) / time.Duration(len(lat))
	}
	return row, nil
}

// storeRecord returns the record certmgr would store for req: its chain as
// uploaded, and a stand-in for the sealed key of the same size (the key
// sealed with AES-GCM: the PEM's DER plus a nonce and a tag, which the PEM's
// length exceeds).
func storeRecord(chainPEM, keyPEM string) *store.Certificate {
	now := time.Now().UTC()
	return &store.Certificate{
		Account:          "bench",
		Project:          "store",
		Kind:             store.KindClient,
		EnvironmentTypes: []string{"production"},
		State:            store.StateActive,
		Version:          1,
		ChainPEM:         []byte(chainPEM),
		SealedKey:        make([]byte, len(keyPEM)),
		Subject:          "CN=storebench.client",
		Issuer:           "CN=Store Bench Root",
		SerialNumber:     "1",
		Fingerprint:      fmt.Sprintf("%064x", 1),
		KeyAlgorithm:     "ECDSA P-256",
		NotBefore:        now,
		NotAfter:         now.Add(90 * 24 * time.Hour),
		CreatedAt:        now,
		UpdatedAt:        now,
	}
}
