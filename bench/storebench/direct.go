package storebench

import (
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/seal"
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
	seqs := make([]int, n)
	return measure(n, d, s.CommitStats, func(w int) (time.Duration, error) {
		c := *tmpl
		c.ID = certs.NewID()
		c.Name = fmt.Sprintf("client%dCert%d", w, seqs[w])
		seqs[w]++
		start := time.Now()
		if _, err := s.CreateCertificate(&c); err != nil {
			return 0, fmt.Errorf("create %s: %w", c.Name, err)
		}
		return time.Since(start), nil
	})
}

// storeRecord returns the record certmgr would store for an upload of
// chainPEM and keyPEM: the chain as uploaded and the key's DER sealed with
// AES-GCM, as certmgr seals it (under a key made here).
func storeRecord(chainPEM, keyPEM string) (*store.Certificate, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, fmt.Errorf("the bench's key is not PEM")
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		return nil, err
	}
	sealed, err := sealer.Seal(block.Bytes, []byte("storebench"))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	return &store.Certificate{
		Account:          "bench",
		Project:          "store",
		Kind:             store.KindClient,
		EnvironmentTypes: []string{"production"},
		State:            store.StateActive,
		Version:          1,
		ChainPEM:         []byte(chainPEM),
		SealedKey:        sealed,
		Subject:          "CN=storebench.client",
		Issuer:           "CN=Store Bench Root",
		SerialNumber:     "1",
		Fingerprint:      fmt.Sprintf("%064x", 1),
		KeyAlgorithm:     "ECDSA P-256",
		NotBefore:        now,
		NotAfter:         now.Add(90 * 24 * time.Hour),
		CreatedAt:        now,
		UpdatedAt:        now,
	}, nil
}
