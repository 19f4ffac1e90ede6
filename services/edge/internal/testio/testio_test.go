package testio

import (
	"io"
	"testing"
)

func TestRepeat(t *testing.T) {
	r := Repeat([]byte("abc"))
	p := make([]byte, 7)
	if n, err := io.ReadFull(r, p); n != 7 || err != nil || string(p) != "abcabca" {
		t.Fatalf("read %d %v %q, want abcabca", n, err, p)
	}
	if n, _ := r.Read(p[:2]); string(p[:n]) != "bc" {
		t.Errorf("next read %q, want bc", p[:n])
	}
}
