package etcdstore

import (
	"fmt"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/certmgr/store"
)

// The cost of the master key guard on every certificate write (two more
// comparisons in the write's transaction), side by side with the same
// writes unguarded, on the embedded member.
func BenchmarkCreateKeyGuarded(b *testing.B)   { benchmarkCreate(b, true) }
func BenchmarkCreateKeyUnguarded(b *testing.B) { benchmarkCreate(b, false) }

func benchmarkCreate(b *testing.B, guarded bool) {
	cli, prefix := testetcd.Client(b)
	s, err := Open(cli, Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.SetKeyCheck([]byte("check")); err != nil {
		b.Fatal(err)
	}
	if guarded {
		s.SetKeyGuard(func(*store.Certificate) (bool, error) { return false, nil }, func() error { return nil })
		st, err := s.KeyState()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.FollowKeyState(st, func() error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		c := &store.Certificate{ID: fmt.Sprintf("crt_%d", i), Account: "acme", Project: "shop", Name: fmt.Sprintf("c%d", i),
			State: store.StateActive, SealedKey: []byte("sealed")}
		if _, err := s.CreateCertificate(c); err != nil {
			b.Fatal(err)
		}
	}
}
