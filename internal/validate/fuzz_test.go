package validate

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzCertificateName(f *testing.F) {
	for _, seed := range []string{"", "myBackendCert", "my-backend-cert", "1cert", "class", "a\u200Db", "🔥", "\xff", strings.Repeat("a", 65),
		"payment\u200CCert", "\uFEFFcert", "p\u0430ymentCert", "pr\u03BFd", "caf\u00E9", "cafe\u0301", "\uFF21\uFF22\uFF23", "ß", "x\u00AD"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CertificateName(name)
		if err == nil {
			if !isASCIIIdentifier(name) || len(name) > maxNameLen || reservedWords[name] {
				t.Fatalf("CertificateName accepted %q", name)
			}
			return
		}
		if isASCIIIdentifier(name) && len(name) <= maxNameLen && !reservedWords[name] {
			t.Fatalf("CertificateName refused %q: %v", name, err)
		}
		for _, r := range err.Error() {
			if r >= utf8.RuneSelf && r != '…' {
				t.Fatalf("CertificateName(%q) = %q, which shows %U unescaped", name, err, r)
			}
		}
		var verr *Error
		if !errors.As(err, &verr) || verr.Field != "name" {
			t.Fatalf("CertificateName(%q) = %#v, want *Error for field name", name, err)
		}
		if s := SuggestName(name); s != "" {
			if err := CertificateName(s); err != nil {
				t.Fatalf("suggestion %q for %q is refused: %v", s, name, err)
			}
		}
	})
}

func FuzzSuggestName(f *testing.F) {
	for _, seed := range []string{"", "my backend cert", "cert.prod", "2fa", "\u0301\u200Dx", "yield", strings.Repeat("é-", 50),
		"\u0441\u0435\u0440", "\u00DCber\u00DF", "\uFF11cert", "\u200D\u200C", "\u0391\u0392\u0395"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s := SuggestName(name)
		if s == "" {
			return
		}
		if err := CertificateName(s); err != nil {
			t.Fatalf("SuggestName(%q) = %q, which is refused: %v", name, s, err)
		}
		if CertificateName(name) == nil && s != name {
			t.Fatalf("SuggestName changed the valid name %q to %q", name, s)
		}
	})
}

// isASCIIIdentifier is the DESIGN's rule, [A-Za-z_$][A-Za-z0-9_$]*, written
// out independently of the code under test.
func isASCIIIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// FuzzEnvironmentTypes splits its input on commas, the way a CLI flag value
// or a JSON array would arrive as a list.
func FuzzEnvironmentTypes(f *testing.F) {
	for _, seed := range []string{"", "development", "production,preview,production", "Production", "prod,dev", ",", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, list string) {
		in := strings.Split(list, ",")
		got, err := EnvironmentTypes(in)
		if err != nil {
			var verr *Error
			if !errors.As(err, &verr) || verr.Field != "environmentTypes" || got != nil {
				t.Fatalf("EnvironmentTypes(%q) = %q, %#v", in, got, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("EnvironmentTypes(%q) returned no types and no error", in)
		}
		canonical := []string{"development", "preview", "production"}
		for _, s := range in {
			if !slices.Contains(got, s) {
				t.Fatalf("EnvironmentTypes(%q) = %q, lost %q", in, got, s)
			}
		}
		idx := -1
		for _, s := range got {
			i := slices.Index(canonical, s)
			if i <= idx {
				t.Fatalf("EnvironmentTypes(%q) = %q, not unique and in canonical order", in, got)
			}
			idx = i
		}
	})
}
