package validate

import (
	"strconv"
	"strings"
	"testing"
)

// TestCertificateNameRefusesLookAlikes covers names that render like an ASCII
// name (or like another name) but are different strings. Each must be refused,
// the message must show every non-ASCII character escaped, and the suggestion
// must be the ASCII spelling a reader would see on screen.
func TestCertificateNameRefusesLookAlikes(t *testing.T) {
	for _, tc := range []struct {
		desc, name string
		quoted     string // how the message must show the name
		suggestion string // "" when no ASCII spelling can be derived
	}{
		{"zero-width joiner", "payment\u200DCert", `"payment\u200dCert"`, "paymentCert"},
		{"zero-width non-joiner", "payment\u200CCert", `"payment\u200cCert"`, "paymentCert"},
		{"zero-width space", "payment\u200BCert", `"payment\u200bCert"`, "paymentCert"},
		{"word joiner", "payment\u2060Cert", `"payment\u2060Cert"`, "paymentCert"},
		{"byte order mark in front", "\uFEFFpaymentCert", `"\ufeffpaymentCert"`, "paymentCert"},
		{"soft hyphen", "pay\u00ADmentCert", `"pay\u00admentCert"`, "paymentCert"},
		{"Cyrillic a", "p\u0430ymentCert", `"p\u0430ymentCert"`, "paymentCert"},
		{"Cyrillic capitals", "\u0421\u0410Cert", `"\u0421\u0410Cert"`, "CACert"},
		{"Cyrillic word", "\u0441\u0435\u0440", `"\u0441\u0435\u0440"`, "cep"},
		{"Greek omicron", "pr\u03BFd", `"pr\u03bfd"`, "prod"},
		{"Greek capitals", "\u0391\u0392\u0395", `"\u0391\u0392\u0395"`, "ABE"},
		{"accent, NFC", "caf\u00E9", `"caf\u00e9"`, "cafe"},
		{"accent, NFD", "cafe\u0301", `"cafe\u0301"`, "cafe"},
		{"accents and ligatures", "\u00DCber\u00DFtra\u00DFe\u00C6", `"\u00dcber\u00dftra\u00dfe\u00c6"`, "UbersstrasseAE"},
		{"fullwidth letters", "\uFF21\uFF22\uFF23cert", `"\uff21\uff22\uff23cert"`, "ABCcert"},
		{"fullwidth digits", "cert\uFF11", `"cert\uff11"`, "cert1"},
		{"emoji inside", "cert\U0001F525prod", `"cert\U0001f525prod"`, "certProd"},
		{"emoji only", "\U0001F525", `"\U0001f525"`, ""},
		{"no Latin reading", "\u65E5\u672C\u8A9E", `"\u65e5\u672c\u8a9e"`, ""},
		{"right-to-left override", "cert\u202Eprod", `"cert\u202eprod"`, "certProd"},
		{"no-break space", "my\u00A0cert", `"my\u00a0cert"`, "myCert"},
		{"Arabic digit", "x\u0663", `"x\u0663"`, "x"},
		{"joiner only", "\u200D", `"\u200d"`, ""},
	} {
		err := CertificateName(tc.name)
		if err == nil {
			t.Errorf("%s: CertificateName(%q) = nil, want it refused", tc.desc, tc.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "certificate name "+tc.quoted+" is not ASCII") {
			t.Errorf("%s: CertificateName(%q) = %q, want it to say name %s is not ASCII", tc.desc, tc.name, msg, tc.quoted)
		}
		for _, r := range msg {
			if r > 0x7E && r != '…' {
				t.Errorf("%s: message %q shows %U unescaped", tc.desc, msg, r)
				break
			}
		}
		got := SuggestName(tc.name)
		if got != tc.suggestion {
			t.Errorf("%s: SuggestName(%q) = %q, want %q", tc.desc, tc.name, got, tc.suggestion)
		}
		if tc.suggestion != "" && !strings.Contains(msg, "e.g. "+strconv.Quote(tc.suggestion)) {
			t.Errorf("%s: CertificateName(%q) = %q, want it to suggest %q", tc.desc, tc.name, msg, tc.suggestion)
		}
		if tc.suggestion == "" && strings.Contains(msg, "e.g.") {
			t.Errorf("%s: CertificateName(%q) = %q suggests a name although none can be derived", tc.desc, tc.name, msg)
		}
	}
}

func TestCertificateNameLookAlikeMessage(t *testing.T) {
	want := `certificate name "payment\u200dCert" is not ASCII: '\u200d' at position 8 is not allowed ` +
		`(certificate names use only the ASCII letters A-Z and a-z, digits, _ and $, so that names that look alike cannot both exist; e.g. "paymentCert")`
	err := CertificateName("payment\u200DCert")
	if err == nil {
		t.Fatal("CertificateName accepted a name with a zero-width joiner")
	}
	if got := err.Error(); got != want {
		t.Errorf("CertificateName:\n got %s\nwant %s", got, want)
	}
}
