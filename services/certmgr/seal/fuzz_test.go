package seal

import (
	"bytes"
	"encoding/hex"
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

func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{secretHex, secretHex + "\n", " " + secretHex + " ", secretHex[:63], secretHex + "0", "", "\x00", "zz" + secretHex[2:]} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parseKey(data)
		trimmed := bytes.TrimSpace(data)
		want, hexErr := hex.DecodeString(string(trimmed))
		valid := len(data) <= maxKeyFileSize && hexErr == nil && len(want) == KeySize
		if valid != (err == nil) {
			t.Fatalf("parseKey(%q) = %v, want success %v", data, err, valid)
		}
		if err == nil && !bytes.Equal(key, want) {
			t.Fatalf("parseKey(%q) = %x, want %x", data, key, want)
		}
		if err == nil {
			if _, err := New(key); err != nil {
				t.Fatalf("New(parsed key) = %v", err)
			}
		}
	})
}
