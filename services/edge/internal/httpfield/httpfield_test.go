package httpfield

import "testing"

func TestSpaceControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nX-Injected: 1", "a  X-Injected: 1"},
		{"nul\x00here", "nul here"},
		{"tab\tstays", "tab\tstays"},
		{"del\x7f", "del "},
		{"obs-text \xf0\xff passes", "obs-text \xf0\xff passes"},
		{"\x01\x1f", "  "},
		{"", ""},
	} {
		if got := SpaceControls(tc.in); got != tc.want {
			t.Errorf("SpaceControls(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHasToken(t *testing.T) {
	for _, tc := range []struct {
		v, tok string
		want   bool
	}{
		{"keep-alive, Upgrade", "upgrade", true},
		{"  CLOSE ", "close", true},
		{"closed", "close", false},
		{"", "close", false},
		{"a,,b", "b", true},
	} {
		if got := HasToken(tc.v, tc.tok); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %v, want %v", tc.v, tc.tok, got, tc.want)
		}
	}
}

// FuzzSpaceControls checks that no control but tab is left, that nothing
// else changes, and that the length is kept.
func FuzzSpaceControls(f *testing.F) {
	f.Add("a\r\nb")
	f.Add("\x00\xff\t")
	f.Fuzz(func(t *testing.T, v string) {
		got := SpaceControls(v)
		if len(got) != len(v) {
			t.Fatalf("SpaceControls(%q) = %q: length changed", v, got)
		}
		for i := 0; i < len(v); i++ {
			switch {
			case isControl(v[i]) && got[i] != ' ':
				t.Fatalf("SpaceControls(%q) = %q: control at %d left", v, got, i)
			case !isControl(v[i]) && got[i] != v[i]:
				t.Fatalf("SpaceControls(%q) = %q: byte %d changed", v, got, i)
			}
		}
	})
}
