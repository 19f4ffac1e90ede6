package httpfield

import (
	"net/textproto"
	"testing"
)

func TestSplitField(t *testing.T) {
	for _, tc := range []struct {
		line, name, value string
		ok                bool
	}{
		{"Host: a", "Host", "a", true},
		{"X-A:\t b c \t", "X-A", "b c", true},
		{"X-A:", "X-A", "", true},
		{"X-A :b", "", "", false},
		{": b", "", "", false},
		{"X-A b", "", "", false},
		{"X(A): b", "", "", false},
		{"X-A: b\rc", "", "", false},
		{"X-A: b\nc", "", "", false},
		{"X-A: b\x00", "", "", false},
		{"X-A: caf\xc3\xa9", "", "", false},
		{"X-A: \x7f", "", "", false},
	} {
		name, value, ok := SplitField([]byte(tc.line))
		if ok != tc.ok || string(name) != tc.name || string(value) != tc.value {
			t.Errorf("SplitField(%q) = %q, %q, %v; want %q, %q, %v", tc.line, name, value, ok, tc.name, tc.value, tc.ok)
		}
	}
}

// FuzzCanonical holds Canonical to textproto: a token name is canonical
// exactly when CanonicalMIMEHeaderKey leaves it as it is.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"Host", "host", "X-Forwarded-For", "x-forwarded-for", "X_under", "ETag", "A-", "-a", "WWW-Authenticate", "1-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || !IsToken([]byte(name)) {
			return
		}
		if got, want := Canonical([]byte(name)), textproto.CanonicalMIMEHeaderKey(name) == name; got != want {
			t.Fatalf("Canonical(%q) = %v, but textproto gives %q", name, got, textproto.CanonicalMIMEHeaderKey(name))
		}
	})
}
