package validate

import (
	"strings"
	"testing"
)

func TestSuggestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"my-backend-cert", "myBackendCert"},
		{"my backend cert", "myBackendCert"},
		{"1cert", "_1cert"},
		{"class", "classCert"},
		{"cert.prod", "certProd"},
		{"my--cert", "myCert"},
		{"-cert-", "cert"},
		{"My_Cert", "My_Cert"}, // already valid: unchanged
		{"backend/über-cert", "backendUberCert"},
		{"2fa-cert", "_2faCert"},
		{"a-1", "a1"},
		{"", ""},
		{"-", ""},
		{"_-$", ""}, // no letter or digit left: not a sensible name
		{"🔥🔥", ""},
		{"\u200D", ""},
		{"\u0301\u0301", ""},
		{"\u0301x", "x"},
		{"x\u200D", "x"},
		{"日本語", ""}, // no ASCII reading at all
	} {
		got := SuggestName(tc.in)
		if got != tc.want {
			t.Errorf("SuggestName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" {
			if err := CertificateName(got); err != nil {
				t.Errorf("SuggestName(%q) = %q, which is refused: %v", tc.in, got, err)
			}
		}
	}
}

func TestSuggestNameKeepsValidNames(t *testing.T) {
	for _, name := range []string{"myBackendCert", "_1cert", "$a", strings.Repeat("a", 64)} {
		if got := SuggestName(name); got != name {
			t.Errorf("SuggestName(%q) = %q, want it unchanged", name, got)
		}
	}
}
