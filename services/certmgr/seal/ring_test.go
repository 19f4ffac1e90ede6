package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
)

// Values sealed by the release before key rings (format 1, no key id), with
// testKey(1): a private key with aad "cert-1/v1" and a check value. Stores
// written then hold such values and must stay readable.
const (
	legacyKeyHex   = "018ab7f94f09ab2de2db1007e581a7a7487b94b008a8712f6290d0dde03850df20db8727c4e3e0fda6a72b49d3f6ac"
	legacyCheckHex = "012f909c64864809aa418c4f79ac2ba44d2e2b4ff7dc73c5607a9f9308ea7fe7a314771a72e842b5d4cec90e9af2e116e5fd00f1ce7edc24c0"
)

func decodeHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLegacyValuesOpen(t *testing.T) {
	sealed := decodeHex(t, legacyKeyHex)
	got, err := newSealer(t, 1).Open(sealed, []byte("cert-1/v1"))
	if err != nil || string(got) != "legacy private key" {
		t.Fatalf("Open(legacy value) = %q, %v", got, err)
	}
	if err := newSealer(t, 1).VerifyCheck(decodeHex(t, legacyCheckHex)); err != nil {
		t.Fatalf("VerifyCheck(legacy check) = %v", err)
	}
	if KeyID(sealed) != "" {
		t.Errorf("KeyID(legacy value) = %q, want none", KeyID(sealed))
	}
	// The first key of a ring that has moved on to another primary still
	// opens them.
	ring := newSealer(t, 2)
	ring.Add(newSealer(t, 1))
	if got, err := ring.Open(sealed, []byte("cert-1/v1")); err != nil || string(got) != "legacy private key" {
		t.Fatalf("ring Open(legacy value) = %q, %v", got, err)
	}
	if _, err := newSealer(t, 2).Open(sealed, []byte("cert-1/v1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key opened a legacy value: %v", err)
	}
	if err := newSealer(t, 2).VerifyCheck(decodeHex(t, legacyCheckHex)); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key verified a legacy check: %v", err)
	}
}

func TestRingSealsWithPrimaryAndOpensWithAny(t *testing.T) {
	one, two := newSealer(t, 1), newSealer(t, 2)
	if one.ID() == two.ID() || len(one.ID()) != 2*idSize {
		t.Fatalf("ids %q and %q", one.ID(), two.ID())
	}
	if again := newSealer(t, 1); again.ID() != one.ID() {
		t.Fatalf("the id of one key changed: %s then %s", one.ID(), again.ID())
	}
	old, err := one.Seal([]byte("k1"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(old) != one.ID() {
		t.Fatalf("KeyID = %q, want %q", KeyID(old), one.ID())
	}

	ring := newSealer(t, 1)
	ring.Add(two)
	ring.Add(two) // adding a key twice keeps one copy
	if got := ring.IDs(); len(got) != 2 || got[0] != one.ID() || got[1] != two.ID() {
		t.Fatalf("IDs = %v", got)
	}
	if err := ring.SetPrimary(two.ID()); err != nil {
		t.Fatal(err)
	}
	fresh, err := ring.Seal([]byte("k2"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(fresh) != two.ID() {
		t.Fatalf("sealed with %q, want the primary %q", KeyID(fresh), two.ID())
	}
	for _, c := range []struct {
		sealed []byte
		want   string
	}{{old, "k1"}, {fresh, "k2"}} {
		if got, err := ring.Open(c.sealed, []byte("a")); err != nil || string(got) != c.want {
			t.Fatalf("ring Open = %q, %v; want %q", got, err, c.want)
		}
	}
	_, err = one.Open(fresh, []byte("a"))
	if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), two.ID()) {
		t.Fatalf("a ring without the key: %v, want ErrOpen naming key %s", err, two.ID())
	}
	if err := ring.SetPrimary(newSealer(t, 3).ID()); err == nil {
		t.Fatal("SetPrimary of a key not in the ring succeeded")
	}
	if err := ring.SetPrimary("zz"); err == nil {
		t.Fatal("SetPrimary of a malformed id succeeded")
	}
}

// TestKeyIDIsAuthenticated makes sure that a value whose key id was changed
// to another key of the ring does not open: the id is part of the
// associated data.
func TestKeyIDIsAuthenticated(t *testing.T) {
	ring := newSealer(t, 1)
	ring.Add(newSealer(t, 2))
	sealed, err := ring.Seal([]byte("k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	swapped := bytes.Clone(sealed)
	id2 := decodeHex(t, newSealer(t, 2).ID())
	copy(swapped[1:], id2)
	if _, err := ring.Open(swapped, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with the id swapped = %v, want ErrOpen", err)
	}
}

func TestRingConcurrentPrimaryChange(t *testing.T) {
	ring := newSealer(t, 1)
	ring.Add(newSealer(t, 2))
	ids := ring.IDs()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 {
					if err := ring.SetPrimary(ids[i%2]); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				v, err := ring.Seal([]byte("k"), nil)
				if err == nil {
					_, err = ring.Open(v, nil)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRingRemoveRetiresAKey(t *testing.T) {
	one, two := newSealer(t, 1), newSealer(t, 2)
	old, err := one.Seal([]byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	one.Add(two)
	if err := one.SetPrimary(two.ID()); err != nil {
		t.Fatal(err)
	}
	if err := one.Remove(two.ID()); err == nil {
		t.Fatal("Remove took away the primary key")
	}
	if err := one.Remove("not-hex"); err == nil {
		t.Fatal("Remove accepted a malformed id")
	}
	if _, err := one.Open(old, []byte("aad")); err != nil {
		t.Fatalf("before Remove: %v", err)
	}
	if err := one.Remove(newSealer(t, 1).ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := one.Open(old, []byte("aad")); !errors.Is(err, ErrOpen) {
		t.Fatalf("a value sealed with the removed key still opens: %v", err)
	}
	if got := one.IDs(); len(got) != 1 || got[0] != two.ID() {
		t.Fatalf("ring after Remove = %v, want only %s", got, two.ID())
	}
	if err := one.Remove(newSealer(t, 3).ID()); err != nil {
		t.Fatalf("removing a key the ring does not hold: %v", err)
	}
}
