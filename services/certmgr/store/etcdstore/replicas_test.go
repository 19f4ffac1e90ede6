package etcdstore

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/store/storetest"
)

// replicas opens n stores on one prefix, each on a client (a connection to
// etcd) of its own, as n replicas of certmgr would.
func replicas(t *testing.T, n int) []*Store {
	prefix := testetcd.Prefix(t)
	out := make([]*Store, n)
	for i := range out {
		out[i] = open(t, testetcd.NewClient(t), prefix)
	}
	return out
}

// TestReplicasRaceForOneName: creates of one name through two replicas at
// once have exactly one winner, round after round.
func TestReplicasRaceForOneName(t *testing.T) {
	rs := replicas(t, 2)
	if rs[0].Epoch() != rs[1].Epoch() {
		t.Fatalf("replicas of one store disagree on its epoch: %q and %q", rs[0].Epoch(), rs[1].Epoch())
	}
	for round := range 20 {
		name := fmt.Sprintf("race%d", round)
		var won, taken atomic.Int32
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, err := rs[i%2].CreateCertificate(storetest.Cert("acme", "shop", name))
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrNameTaken):
					taken.Add(1)
				default:
					t.Errorf("create: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || taken.Load() != 3 {
			t.Fatalf("round %d: %d creates won and %d were refused, want 1 and 3", round, won.Load(), taken.Load())
		}
	}
	for _, r := range rs {
		if list, err := r.ListCertificates("acme", "shop", ""); err != nil || len(list) != 20 {
			t.Errorf("a replica lists %d certificates, %v; want 20", len(list), err)
		}
	}
}

// TestReplicasLoseNoUpdate: updates through two replicas at once each see
// the other's: none is lost.
func TestReplicasLoseNoUpdate(t *testing.T) {
	rs := replicas(t, 2)
	c := storetest.Cert("acme", "shop", "counted")
	if _, err := rs[0].CreateCertificate(c); err != nil {
		t.Fatal(err)
	}
	const each = 10
	var wg sync.WaitGroup
	for i := range 2 * each {
		wg.Go(func() {
			if _, _, err := rs[i%2].UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
				c.Version++
				return store.ChangeRotated, nil
			}); err != nil {
				t.Errorf("update: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := rs[1].GetCertificate("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1+2*each {
		t.Fatalf("after %d concurrent rotations through two replicas the version is %d, want %d", 2*each, got.Version, 1+2*each)
	}
}

// TestDeleteCheckRerunsAfterAnotherReplicaWrites: a write by another
// replica between the delete's check and its commit makes the check run
// again on the record as it now is, so a veto is never decided on a stale
// read.
func TestDeleteCheckRerunsAfterAnotherReplicaWrites(t *testing.T) {
	rs := replicas(t, 2)
	c := storetest.Cert("acme", "shop", "contested")
	if _, err := rs[0].CreateCertificate(c); err != nil {
		t.Fatal(err)
	}
	var seen []string
	referenced := errors.New("referenced")
	_, err := rs[0].DeleteCertificate("acme", "shop", c.ID, func(cur *store.Certificate) error {
		seen = append(seen, cur.State)
		if len(seen) == 1 {
			// Another replica disables it meanwhile.
			if _, _, err := rs[1].UpdateCertificate("acme", "shop", c.ID, func(c *store.Certificate) (string, error) {
				c.State = store.StateDisabled
				return store.ChangeDisabled, nil
			}); err != nil {
				t.Fatal(err)
			}
			return nil
		}
		if cur.State != store.StateActive {
			return referenced
		}
		return nil
	})
	if !errors.Is(err, referenced) || !slices.Equal(seen, []string{store.StateActive, store.StateDisabled}) {
		t.Fatalf("delete = %v after checks of %v; want the second check, on the disabled record, to veto it", err, seen)
	}
	if got, err := rs[0].GetCertificate("acme", "shop", c.ID); err != nil || got.State != store.StateDisabled {
		t.Errorf("after the vetoed delete: %+v, %v", got, err)
	}
}

// TestMasterKeyRecords: the check value is set once and binds the store;
// the walk over sealed keys pages through every sound record that has
// one, skipping a damaged record and a CA without a key.
func TestMasterKeyRecords(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	s := open(t, cli, prefix)
	if v, err := s.KeyCheck(); err != nil || v != nil {
		t.Fatalf("KeyCheck of a new store = %q, %v", v, err)
	}
	if has, err := s.HasCertificates(); err != nil || has {
		t.Fatalf("HasCertificates of a new store = %v, %v", has, err)
	}
	if err := s.SetKeyCheck([]byte("check-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyCheck([]byte("check-2")); !errors.Is(err, store.ErrKeyCheckExists) {
		t.Errorf("a second SetKeyCheck = %v, want ErrKeyCheckExists", err)
	}
	if v, err := s.KeyCheck(); err != nil || string(v) != "check-1" {
		t.Errorf("KeyCheck = %q, %v; want the first value", v, err)
	}
	var want []string
	for i := range 5 {
		c := storetest.Cert("acme", "shop", fmt.Sprintf("k%d", i))
		if _, err := s.CreateCertificate(c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
	}
	ca := storetest.Cert("acme", "shop", "ca")
	ca.Kind, ca.SealedKey = store.KindCA, nil
	broken := storetest.Cert("acme", "shop", "broken")
	for _, c := range []*store.Certificate{ca, broken} {
		if _, err := s.CreateCertificate(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := (damageable{s}).DamageCertificate("acme", "shop", broken.ID); err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasCertificates(); err != nil || !has {
		t.Errorf("HasCertificates = %v, %v", has, err)
	}
	defer func(n int64) { scanBatch = n }(scanBatch)
	scanBatch = 2
	var got []string
	if err := s.ForEachSealedKey(func(c *store.Certificate) error {
		if string(c.SealedKey) != "sealed:"+c.Name {
			t.Errorf("%s has the sealed key %q", c.Name, c.SealedKey)
		}
		got = append(got, c.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ForEachSealedKey visited %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ForEachSealedKey(func(*store.Certificate) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ForEachSealedKey stopped = %v after %d visits, want its error after 1", err, n)
	}
}
