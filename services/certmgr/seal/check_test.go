package seal

import (
	"errors"
	"testing"
)

func TestCheckOpensOnlyWithItsKey(t *testing.T) {
	a, b := newSealer(t, 1), newSealer(t, 2)
	check, err := a.NewCheck()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyCheck(check); err != nil {
		t.Fatalf("the key that made the check value: %v", err)
	}
	if err := b.VerifyCheck(check); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key: got %v, want ErrOpen", err)
	}
	// A value sealed by the same key for anything else is not a check value.
	other, err := a.Seal(checkPlaintext, []byte("certbind/certmgr/private-key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyCheck(other); !errors.Is(err, ErrOpen) {
		t.Fatalf("a value sealed with other associated data: got %v, want ErrOpen", err)
	}
	wrongText, err := a.Seal([]byte("something else"), checkAAD)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyCheck(wrongText); !errors.Is(err, ErrOpen) {
		t.Fatalf("another plaintext: got %v, want ErrOpen", err)
	}
	if err := a.VerifyCheck(nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("empty value: got %v, want ErrOpen", err)
	}
}
