package etcdstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
)

// TestBeginSharedRotationWaitsForEveryReplica: a rotation is recorded only
// once every advertised replica holds the next key; a replica that dies
// (its lease revoked) no longer counts; a second begin to the same key is a
// no-op and one to another key is refused.
func TestBeginSharedRotationWaitsForEveryReplica(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := open(t, cli, prefix)
	b, err := Open(testetcd.NewClient(t), Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.SetKeyCheck([]byte("check-old")); err != nil {
		t.Fatal(err)
	}
	next := []byte("check-next")
	same := func(recorded []byte) bool { return bytes.Equal(recorded, next) }
	if err := a.Advertise("a", []string{"old", "next"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Advertise("b", []string{"old"}); err != nil {
		t.Fatal(err)
	}
	err = a.BeginSharedRotation(next, "next", same)
	if !errors.Is(err, store.ErrKeyNotEverywhere) || !strings.Contains(err.Error(), "replica(s) b do not") {
		t.Fatalf("begin while b lacks the key = %v", err)
	}
	if st, err := a.KeyState(); err != nil || st.Next != nil {
		t.Fatalf("a refused begin recorded %+v, %v", st, err)
	}
	if err := b.Close(); err != nil { // b's lease, and its record, go
		t.Fatal(err)
	}
	if err := a.BeginSharedRotation(next, "next", same); err != nil {
		t.Fatal(err)
	}
	st, err := a.KeyState()
	if err != nil || !bytes.Equal(st.Next, next) || st.NextRev == 0 {
		t.Fatalf("after begin: %+v, %v", st, err)
	}
	if err := a.BeginSharedRotation(next, "next", same); err != nil {
		t.Fatalf("begin again to the same key = %v", err)
	}
	if err := a.BeginSharedRotation([]byte("other"), "other", func([]byte) bool { return false }); !errors.Is(err, store.ErrRotationInProgress) {
		t.Fatalf("begin to another key = %v", err)
	}
}

// TestResealedRecordIsNoChange: a record a rotation wrote back re-sealed
// gives the feed no entry, and the next real change of it is published
// as usual.
func TestResealedRecordIsNoChange(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	s := open(t, cli, prefix)
	var got []store.Entry
	s.SetPublisher(func(e store.Entry) { got = append(got, e) })
	c := &store.Certificate{ID: "crt_1", Account: "acme", Project: "shop", Name: "one", State: store.StateActive, SealedKey: []byte("sealed-1")}
	if _, err := s.CreateCertificate(c); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyCheck([]byte("check")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimKeyWalk("a"); err != nil {
		t.Fatal(err)
	}
	_, st, err := s.RewrapPage("", 10, func(c *store.Certificate) (bool, error) {
		c.SealedKey = []byte("sealed-2")
		return true, nil
	})
	if err != nil || st.Rewrapped != 1 {
		t.Fatalf("RewrapPage = %+v, %v", st, err)
	}
	if _, _, err := s.UpdateCertificate("acme", "shop", "crt_1", func(c *store.Certificate) (string, error) {
		c.State = store.StateDisabled
		return store.ChangeDisabled, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != store.ChangeCreated || got[1].Type != store.ChangeDisabled {
		t.Fatalf("published %+v, want the create and the disable only", got)
	}
	after, err := s.GetCertificate("acme", "shop", "crt_1")
	if err != nil || string(after.SealedKey) != "sealed-2" || after.Version != c.Version {
		t.Fatalf("after the re-seal and the disable: %+v, %v", after, err)
	}
}

// TestFinishNeedsTheRotationFollowed: a replica whose ring has not followed
// a rotation yet finds every record under the key it seals with; its
// attempt to end the rotation must not hold, or records would stay under
// the old key with the store no longer naming it.
func TestFinishNeedsTheRotationFollowed(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	a := open(t, cli, prefix)
	b := open(t, testetcd.NewClient(t), prefix)
	if err := a.SetKeyCheck([]byte("check-old")); err != nil {
		t.Fatal(err)
	}
	unchanged := func(*store.Certificate) (bool, error) { return false, nil }
	a.SetKeyGuard(unchanged, func() error { return nil })
	idle, err := a.KeyState()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.FollowKeyState(idle, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateCertificate(&store.Certificate{ID: "crt_1", Account: "acme", Project: "shop", Name: "one", State: store.StateActive, SealedKey: []byte("under-old")}); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginSharedRotation([]byte("check-next"), "next", func([]byte) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.ClaimKeyWalk("a"); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if done, err := a.FinishSharedRotation(unchanged); done || err == nil {
		t.Fatalf("a replica that had not followed ended the rotation: %v, %v", done, err)
	}
	if st, err := a.KeyState(); err != nil || st.Next == nil || string(st.Check) != "check-old" {
		t.Fatalf("after the refused end: %+v, %v", st, err)
	}
}
