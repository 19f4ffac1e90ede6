package seal

import (
	"bytes"
	"errors"
	"testing"
)

// testKey returns a fixed key; n varies it so tests can hold two different keys.
func testKey(n byte) []byte {
	return bytes.Repeat([]byte{n}, KeySize)
}

func newSealer(t testing.TB, n byte) *Sealer {
	t.Helper()
	s, err := New(testKey(n))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) succeeded, want an error", n)
		}
	}
	if _, err := New(make([]byte, KeySize)); err != nil {
		t.Errorf("New(%d bytes) = %v", KeySize, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	for _, plaintext := range [][]byte{nil, {}, []byte("-----BEGIN PRIVATE KEY-----\n..."), bytes.Repeat([]byte{0xAB}, 1<<16)} {
		aad := []byte("cert-123/v2")
		sealed, err := s.Seal(plaintext, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != overhead+len(plaintext) || sealed[0] != formatVersion {
			t.Fatalf("sealed %d bytes into %d bytes starting with %d", len(plaintext), len(sealed), sealed[0])
		}
		if len(plaintext) > 8 && bytes.Contains(sealed, plaintext[:8]) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, aad)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("Open = %q, %v; want the plaintext back", got, err)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	s := newSealer(t, 1)
	seen := map[string]bool{}
	for range 100 {
		sealed, err := s.Seal([]byte("same plaintext"), []byte("same aad"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(sealed[1+idSize : 1+idSize+nonceSize])
		if seen[nonce] {
			t.Fatalf("nonce %x used twice", nonce)
		}
		seen[nonce] = true
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	s := newSealer(t, 1)
	aad := []byte("cert-1/v1")
	sealed, err := s.Seal([]byte("private key"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xFF} {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= flip
			if _, err := s.Open(tampered, aad); !errors.Is(err, ErrOpen) {
				t.Errorf("Open with byte %d ^ %#x = %v, want ErrOpen", i, flip, err)
			}
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with a byte appended = %v, want ErrOpen", err)
	}
}

func TestOpenRefusesTruncation(t *testing.T) {
	s := newSealer(t, 1)
	sealed, err := s.Seal([]byte("private key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		if _, err := s.Open(sealed[:n], nil); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(first %d of %d bytes) = %v, want ErrOpen", n, len(sealed), err)
		}
	}
}

func TestOpenRefusesWrongAAD(t *testing.T) {
	s := newSealer(t, 1)
	sealed, err := s.Seal([]byte("private key"), []byte("cert-1/v1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range []string{"", "cert-1/v2", "cert-2/v1", "cert-1/v1 "} {
		if _, err := s.Open(sealed, []byte(aad)); !errors.Is(err, ErrOpen) {
			t.Errorf("Open with aad %q = %v, want ErrOpen", aad, err)
		}
	}
}

func TestOpenRefusesWrongKey(t *testing.T) {
	sealed, err := newSealer(t, 1).Seal([]byte("private key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newSealer(t, 2).Open(sealed, nil)
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with another key = %v, want ErrOpen", err)
	}
	if want := "the key file may not match the database"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("ErrOpen says %q, want it to mention %q", err, want)
	}
}
