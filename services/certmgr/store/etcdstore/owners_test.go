package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// stall is the References of a replica whose delete stops at the check
// (step 2 of the protocol): it says it got there, then waits to be let go.
type stall struct {
	at, go_ chan struct{}
	refs    []certs.Reference
}

func newStall() *stall { return &stall{at: make(chan struct{}, 1), go_: make(chan struct{})} }

func (s *stall) CertificateReferences(ctx context.Context, _, _, _ string) ([]certs.Reference, error) {
	s.at <- struct{}{}
	select {
	case <-s.go_:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.refs, nil
}

func testSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	sealer, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return sealer
}

func uploadCert(t *testing.T, m *certs.Manager, name string, types ...string) *store.Certificate {
	t.Helper()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "backend"})
	c, err := m.Create(context.Background(), "test", certs.CreateInput{Account: "acme", Project: "shop", Name: name, EnvironmentTypes: types,
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestResumeLeavesALiveReplicasDelete: replica A marks a certificate
// deleting and stalls before its check; replica B's resume loop, which
// runs on every replica, must leave that delete alone while A lives. Once
// A is dead (its lease revoked, or expired after its client went away), B
// finishes the delete, or rolls it back if a deployment uses the
// certificate; A, let go afterwards, changes nothing.
func TestResumeLeavesALiveReplicasDelete(t *testing.T) {
	for _, tc := range []struct {
		name       string
		expire     bool // A's client closes and its lease expires; otherwise it is revoked
		referenced bool // B finds a deployment using the certificate
	}{
		{name: "revoked/finish"},
		{name: "revoked/rollback", referenced: true},
		{name: "expired/finish", expire: true},
		{name: "expired/rollback", expire: true, referenced: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testetcd.Prefix(t)
			sealer := testSealer(t)
			cliA := testetcd.NewClient(t)
			stA, err := Open(cliA, Options{Prefix: prefix, OwnerTTL: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stA.Close() })
			stB := open(t, testetcd.NewClient(t), prefix)
			hook := newStall()
			var refsB []certs.Reference
			if tc.referenced {
				refsB = []certs.Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production"}}
			}
			mA := certs.New(certs.Config{Store: stA, Sealer: sealer, References: hook})
			mB := certs.New(certs.Config{Store: stB, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return refsB, nil })})
			c := uploadCert(t, mA, "backendCert", "production")

			done := make(chan error, 1)
			go func() {
				_, err := mA.Delete(context.Background(), "test", "acme", "shop", c.ID)
				done <- err
			}()
			<-hook.at
			if n, err := mB.ResumeDeletes(context.Background()); err != nil || n != 0 {
				t.Errorf("replica B's ResumeDeletes during A's delete = %d, %v; want 0 (A is alive)", n, err)
			}
			if got, err := mB.Get("acme", "shop", c.ID); err != nil || got.State != store.StateDeleting {
				t.Errorf("during A's delete, B reads %v, %v; want it still marked deleting", stateOf(got), err)
			}
			if _, err := mB.Delete(context.Background(), "test", "acme", "shop", c.ID); !errors.Is(err, certs.ErrBusy) {
				t.Errorf("a delete through B during A's = %v, want ErrBusy", err)
			}

			// A dies.
			if tc.expire {
				cliA.Close()
			} else if _, err := testetcd.NewClient(t).Revoke(t.Context(), stA.owners.lease.Current()); err != nil {
				t.Fatal(err)
			}
			resumeDead(t, mB, 1)

			got, err := mB.Get("acme", "shop", c.ID)
			if tc.referenced {
				if err != nil || got.State != store.StateActive {
					t.Fatalf("after B rolled back the dead replica's delete it reads %v, %v; want it active", stateOf(got), err)
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after B finished the dead replica's delete it reads %v, %v; want it gone", stateOf(got), err)
			}
			// A, let go, finds the delete no longer its own to finish.
			close(hook.go_)
			if err := <-done; err == nil {
				t.Errorf("A's delete, finished by B, succeeded on A too")
			}
			after, err := mB.Get("acme", "shop", c.ID)
			if tc.referenced && (err != nil || after.State != store.StateActive) {
				t.Errorf("after A went on, B reads %v, %v; want it still active", stateOf(after), err)
			}
		})
	}
}

// resumeDead runs ResumeDeletes until it has taken on want changes of a
// dead replica, which it may do only once that replica's lease is gone.
func resumeDead(t *testing.T, m *certs.Manager, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := m.ResumeDeletes(context.Background())
		if err != nil {
			t.Fatalf("ResumeDeletes: %v", err)
		}
		if n == want {
			return
		}
		if n != 0 || time.Now().After(deadline) {
			t.Fatalf("ResumeDeletes took on %d changes, want %d once the replica's lease is gone (waited 30 s)", n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestResumeLeavesALiveReplicasRemoval: the same for a removal of
// environment types, which follows the same write-then-check protocol.
func TestResumeLeavesALiveReplicasRemoval(t *testing.T) {
	prefix := testetcd.Prefix(t)
	sealer := testSealer(t)
	stA, stB := open(t, testetcd.NewClient(t), prefix), open(t, testetcd.NewClient(t), prefix)
	hook := newStall()
	mA := certs.New(certs.Config{Store: stA, Sealer: sealer, References: hook})
	mB := certs.New(certs.Config{Store: stB, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return nil, nil })})
	c := uploadCert(t, mA, "backendCert", "production", "preview")

	done := make(chan error, 1)
	go func() {
		// A takes preview away and adds development: B, not knowing the
		// request, could only finish it as "production" alone.
		_, err := mA.SetEnvironmentTypes(context.Background(), "test", "acme", "shop", c.ID, []string{"production", "development"})
		done <- err
	}()
	<-hook.at
	if n, err := mB.ResumeDeletes(context.Background()); err != nil || n != 0 {
		t.Errorf("replica B's ResumeDeletes during A's removal = %d, %v; want 0 (A is alive)", n, err)
	}
	close(hook.go_)
	if err := <-done; err != nil {
		t.Errorf("A's removal: %v", err)
	}
	got, err := mB.Get("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RemovingTypes) != 0 || !slices.Equal(got.EnvironmentTypes, []string{"development", "production"}) {
		t.Fatalf("after A's removal B reads types %v (removing %v), %v; want [development production] and no removal left", got.EnvironmentTypes, got.RemovingTypes, err)
	}
}

// TestDeadOwnerCannotFinishLater: replica A marks a delete and stalls
// after its check found no reference; A's lease lapses, B rolls the delete
// back (it found a deployment), and C starts a delete of its own, which is
// checking. A, let go, must not delete the certificate on the strength of
// its old check, though the certificate is marked deleting again: only the
// owner of the mark may finish it.
func TestDeadOwnerCannotFinishLater(t *testing.T) {
	prefix := testetcd.Prefix(t)
	sealer := testSealer(t)
	stA, stB, stC := open(t, testetcd.NewClient(t), prefix), open(t, testetcd.NewClient(t), prefix), open(t, testetcd.NewClient(t), prefix)
	hookA, hookC := newStall(), newStall()
	used := []certs.Reference{{DeploymentID: "dep_1", Environment: "production", EnvironmentType: "production"}}
	hookC.refs = used
	mA := certs.New(certs.Config{Store: stA, Sealer: sealer, References: hookA})
	mB := certs.New(certs.Config{Store: stB, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return used, nil })})
	mC := certs.New(certs.Config{Store: stC, Sealer: sealer, References: hookC})
	c := uploadCert(t, mA, "backendCert", "production")

	doneA := make(chan error, 1)
	go func() {
		_, err := mA.Delete(context.Background(), "test", "acme", "shop", c.ID)
		doneA <- err
	}()
	<-hookA.at
	if _, err := testetcd.NewClient(t).Revoke(t.Context(), stA.owners.lease.Current()); err != nil {
		t.Fatal(err)
	}
	resumeDead(t, mB, 1)
	doneC := make(chan error, 1)
	go func() {
		_, err := mC.Delete(context.Background(), "test", "acme", "shop", c.ID)
		doneC <- err
	}()
	<-hookC.at
	close(hookA.go_) // A's check found nothing
	if err := <-doneA; err == nil {
		t.Errorf("A's delete, which lost its claim, succeeded")
	}
	if got, err := mB.Get("acme", "shop", c.ID); err != nil {
		t.Fatalf("after A went on with a lapsed claim, B reads %v, %v; want the certificate still there (C's check is running and a deployment uses it)", stateOf(got), err)
	}
	close(hookC.go_)
	if err := <-doneC; !errors.Is(err, certs.ErrReferenced) {
		t.Errorf("C's delete = %v, want ErrReferenced", err)
	}
	if got, err := mB.Get("acme", "shop", c.ID); err != nil || got.State != store.StateActive {
		t.Errorf("in the end B reads %v, %v; want it active", stateOf(got), err)
	}
}

// TestResumeTakesOnADeadReplicasRemoval: a removal of environment types
// whose replica died (its lease revoked) is finished by another replica,
// which knows only what was being removed; the dead replica, let go
// afterwards, changes nothing.
func TestResumeTakesOnADeadReplicasRemoval(t *testing.T) {
	prefix := testetcd.Prefix(t)
	sealer := testSealer(t)
	stA, stB := open(t, testetcd.NewClient(t), prefix), open(t, testetcd.NewClient(t), prefix)
	hook := newStall()
	mA := certs.New(certs.Config{Store: stA, Sealer: sealer, References: hook})
	mB := certs.New(certs.Config{Store: stB, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return nil, nil })})
	c := uploadCert(t, mA, "backendCert", "production", "preview")

	done := make(chan error, 1)
	go func() {
		_, err := mA.SetEnvironmentTypes(context.Background(), "test", "acme", "shop", c.ID, []string{"production", "development"})
		done <- err
	}()
	<-hook.at
	if _, err := testetcd.NewClient(t).Revoke(t.Context(), stA.owners.lease.Current()); err != nil {
		t.Fatal(err)
	}
	resumeDead(t, mB, 1)
	got, err := mB.Get("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RemovingTypes) != 0 || !slices.Equal(got.EnvironmentTypes, []string{"production"}) {
		t.Fatalf("after B finished the dead replica's removal it reads types %v (removing %v); want [production]", got.EnvironmentTypes, got.RemovingTypes)
	}
	close(hook.go_)
	if err := <-done; !errors.Is(err, certs.ErrTypesChanging) {
		t.Errorf("the dead replica's removal, let go = %v; want ErrTypesChanging", err)
	}
	after, err := mB.Get("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after.EnvironmentTypes, []string{"production"}) {
		t.Errorf("after the dead replica went on, B reads types %v; want [production]", after.EnvironmentTypes)
	}
}

func stateOf(c *store.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return "state " + c.State
}

// TestReplicasNeverCompact: compaction is etcd's own
// (--auto-compaction-retention); replicas that write, delete, resume and
// stop leave etcd's history as it was, so the revision before them can
// still be read.
func TestReplicasNeverCompact(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	first, err := cli.Get(t.Context(), prefix+"meta/epoch")
	if err != nil {
		t.Fatal(err)
	}
	sealer := testSealer(t)
	for range 2 {
		st, err := Open(testetcd.NewClient(t), Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		m := certs.New(certs.Config{Store: st, Sealer: sealer, References: refsFunc(func() ([]certs.Reference, error) { return nil, nil })})
		c := uploadCert(t, m, "backendCert", "production")
		if _, err := m.Delete(context.Background(), "test", "acme", "shop", c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.ResumeDeletes(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision)); err != nil {
		t.Errorf("reading revision %d after the replicas ran: %v; want it still there (a replica compacted etcd's history)", first.Header.Revision, err)
	}
}
