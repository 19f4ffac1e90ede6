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
		"ABCxyz0123456789",
		strings.Repeat("a", 64),
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
		{"٣cert", `'\u0663' at position 1`, "cert"}, // no ASCII reading: a word break
		{"class", "is a reserved word", "classCert"},
		{"null", "is a reserved word", "nullCert"},
		{"true", "is a reserved word", "trueCert"},
		{"await", "is a reserved word", "awaitCert"},
		{"yield", "is a reserved word", "yieldCert"},
		{"let", "is a reserved word", "letCert"},
		{"enum", "is a reserved word", "enumCert"},
		{strings.Repeat("a", 65), "is 65 characters long, over the limit of 64", strings.Repeat("a", 64)},
		{strings.Repeat("é", 65), "is 65 characters long", strings.Repeat("e", 64)},
		{" cert", `it starts with ' '`, "cert"},
		{"cert ", `' ' at position 5`, "cert"},
		{"a\tb", `'\t' at position 2`, "aB"},
		{"a\x00b", `'\x00' at position 2`, "aB"},
		{"a\u200Bb", `'\u200b' at position 2`, "ab"}, // invisible, so dropped
		{"\u200Dabc", `'\u200d' at position 1`, "abc"},
		{"a\u202Eb", `'\u202e' at position 2`, "aB"}, // right-to-left override
		{"a\u00A0b", `'\u00a0' at position 2`, "aB"}, // no-break space
		{"\u0301a", `'\u0301' at position 1`, "a"},
		{"🔥cert", `'\U0001f525' at position 1`, "cert"},
		{"cert🔥", `'\U0001f525' at position 5`, "cert"},
		{"🔥", `'\U0001f525' at position 1`, ""},
		{"---", `it starts with '-'`, ""},
		{"@cert", `it starts with '@'`, "cert"},
		{"c#", `'#' at position 2`, "c"},
		{"\xff", "is not ASCII: invalid UTF-8 byte 0xff at position 1", ""},
		{"a\xffb", "invalid UTF-8 byte 0xff at position 2", "aB"},
		{"a\uFFFDb", `'\ufffd' at position 2`, "aB"}, // the replacement character itself
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
		"a\u200Bb":              `certificate name "a\u200bb" is not ASCII: '\u200b' at position 2 is not allowed (certificate names use only the ASCII letters A-Z and a-z, digits, _ and $, so that names that look alike cannot both exist; e.g. "ab")`,
		strings.Repeat("x", 99): `certificate name is 99 characters long, over the limit of 64 (shorten it; e.g. "` + strings.Repeat("x", 64) + `")`,
	} {
		if got := CertificateName(name).Error(); got != want {
			t.Errorf("CertificateName(%q):\n got %s\nwant %s", name, got, want)
		}
	}
}
