package validate

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCertificateNameAccepts(t *testing.T) {
	for _, name := range []string{
		"myBackendCert",
		"a",
		"$",
		"_",
		"_1cert",
		"$cert$",
		"Class",     // reserved words are case-sensitive
		"classes",   // a reserved word as a prefix is fine
		"undefined", // a global, not a reserved word
		"café",      // Ll beyond ASCII
		"日本語",       // Lo
		"ǅungla",    // Lt
		"Ⅻcert",     // Nl may start a name
		"e\u0301",   // Mn after the first character
		"a\u203Fb",  // Pc other than '_'
		"x٣",        // Nd other than ASCII
		"a\u200Cb",  // zero-width non-joiner inside
		"a\u200Db",  // zero-width joiner inside
		"ＡＢＣ",       // full-width letters are letters
		strings.Repeat("a", 64),
		strings.Repeat("é", 64), // the limit counts characters, not bytes
	} {
		if err := CertificateName(name); err != nil {
			t.Errorf("CertificateName(%q) = %v, want nil", name, err)
		}
	}
}

func TestCertificateNameRefuses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wantInMsg  string
		suggestion string // "" when none can be derived
	}{
		{"", "is empty", ""},
		{"my-backend-cert", `'-' at position 3 is not allowed`, "myBackendCert"},
		{"my backend cert", `' ' at position 3 is not allowed`, "myBackendCert"},
		{"cert.prod", `'.' at position 5`, "certProd"},
		{"1cert", `it starts with '1'`, "_1cert"},
		{"٣cert", `it starts with '٣'`, "_٣cert"},
		{"class", "is a reserved word", "classCert"},
		{"null", "is a reserved word", "nullCert"},
		{"true", "is a reserved word", "trueCert"},
		{"await", "is a reserved word", "awaitCert"},
		{"yield", "is a reserved word", "yieldCert"},
		{"let", "is a reserved word", "letCert"},
		{"enum", "is a reserved word", "enumCert"},
		{strings.Repeat("a", 65), "is 65 characters long, over the limit of 64", strings.Repeat("a", 64)},
		{strings.Repeat("é", 65), "is 65 characters long", strings.Repeat("é", 64)},
		{" cert", `it starts with ' '`, "cert"},
		{"cert ", `' ' at position 5`, "cert"},
		{"a\tb", `'\t' at position 2`, "aB"},
		{"a\x00b", `'\x00' at position 2`, "aB"},
		{"a\u200Bb", `'\u200b' at position 2`, "aB"},    // zero-width space is not a joiner
		{"\u200Dabc", `it starts with '\u200d'`, "abc"}, // joiners may not come first
		{"a\u202Eb", `'\u202e' at position 2`, "aB"},    // right-to-left override
		{"a\u00A0b", `'\u00a0' at position 2`, "aB"},    // no-break space
		{"\u0301a", `it starts with '\u0301'`, "a"},     // a combining mark needs a base
		{"🔥cert", `it starts with '🔥'`, "cert"},
		{"cert🔥", `'🔥' at position 5`, "cert"},
		{"🔥", `it starts with '🔥'`, ""},
		{"---", `it starts with '-'`, ""},
		{"@cert", `it starts with '@'`, "cert"},
		{"c#", `'#' at position 2`, "c"},
		{"\xff", "it starts with invalid UTF-8 byte 0xff", ""},
		{"a\xffb", "invalid UTF-8 byte 0xff at position 2", "aB"},
		{"a\uFFFDb", `'�' at position 2`, "aB"}, // the replacement character itself
		{"my-" + strings.Repeat("x", 70), "is 73 characters long", "myX" + strings.Repeat("x", 61)},
	} {
		err := CertificateName(tc.name)
		var verr *Error
		if !errors.As(err, &verr) {
			t.Errorf("CertificateName(%q) = %v, want *Error", tc.name, err)
			continue
		}
		if verr.Field != "name" || verr.Error() != verr.Msg {
			t.Errorf("CertificateName(%q): Field = %q, Error() = %q, Msg = %q", tc.name, verr.Field, verr.Error(), verr.Msg)
		}
		if !strings.Contains(verr.Msg, tc.wantInMsg) {
			t.Errorf("CertificateName(%q) = %q, want it to contain %q", tc.name, verr.Msg, tc.wantInMsg)
		}
		got := SuggestName(tc.name)
		if got != tc.suggestion {
			t.Errorf("SuggestName(%q) = %q, want %q", tc.name, got, tc.suggestion)
		}
		if got == "" {
			if strings.Contains(verr.Msg, "e.g.") {
				t.Errorf("CertificateName(%q) = %q suggests a name although none can be derived", tc.name, verr.Msg)
			}
			continue
		}
		if !strings.Contains(verr.Msg, "e.g. "+strconv.Quote(got)) {
			t.Errorf("CertificateName(%q) = %q, want it to suggest %q", tc.name, verr.Msg, got)
		}
		if err := CertificateName(got); err != nil {
			t.Errorf("suggestion %q for %q is itself refused: %v", got, tc.name, err)
		}
	}
}

func TestCertificateNameMessages(t *testing.T) {
	for name, want := range map[string]string{
		"my-backend-cert":       `certificate name "my-backend-cert" is not a valid JavaScript identifier: '-' at position 3 is not allowed (use letters, digits, _ or $; e.g. "myBackendCert")`,
		"1cert":                 `certificate name "1cert" is not a valid JavaScript identifier: it starts with '1' (start with a letter, _ or $; e.g. "_1cert")`,
		"class":                 `certificate name "class" is a reserved word in JavaScript (choose another name; e.g. "classCert")`,
		"":                      `certificate name is empty (use a JavaScript identifier such as "myBackendCert")`,
		"a\u200Bb":              `certificate name "a\u200bb" is not a valid JavaScript identifier: '\u200b' at position 2 is not allowed (use letters, digits, _ or $; e.g. "aB")`,
		strings.Repeat("x", 99): `certificate name is 99 characters long, over the limit of 64 (shorten it; e.g. "` + strings.Repeat("x", 64) + `")`,
	} {
		if got := CertificateName(name).Error(); got != want {
			t.Errorf("CertificateName(%q):\n got %s\nwant %s", name, got, want)
		}
	}
}
