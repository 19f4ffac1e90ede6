package seal

import (
	"errors"
	"testing"
)

func FuzzOpen(f *testing.F) {
	s := newSealer(f, 1)
	// Seeds are near misses: values sealed under another key, truncated or
	// relabelled, and well-formed headers with garbage behind them. Nothing
	// is ever sealed under s itself, since the fuzzer could then recover the
	// right aad by mutation and report a genuine value as a forgery.
	sealed, _ := newSealer(f, 2).Seal([]byte("private key"), []byte("aad"))
	f.Add(sealed, []byte("aad"))
	f.Add(sealed[:len(sealed)-1], []byte("aad"))
	f.Add(append([]byte{2}, sealed[1:]...), []byte("aad"))
	f.Add([]byte{}, []byte{})
	f.Add(append([]byte{formatVersion}, make([]byte, overhead)...), []byte(nil))
	f.Fuzz(func(t *testing.T, data, aad []byte) {
		got, err := s.Open(data, aad)
		if err == nil {
			t.Fatalf("Open accepted forged input %x (aad %q) as %q", data, aad, got)
		}
		if !errors.Is(err, ErrOpen) || got != nil {
			t.Fatalf("Open = %q, %v; want nil, ErrOpen", got, err)
		}
	})
}
