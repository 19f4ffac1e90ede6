package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SuggestName derives a valid certificate name from an invalid one, the way a
// person would fix it by hand: characters that cannot appear in an identifier
// become word breaks and the words are joined in camelCase ("my-backend-cert"
// gives "myBackendCert"), a leading digit gets a "_" in front ("1cert" gives
// "_1cert"), a reserved word gets "Cert" appended ("class" gives "classCert")
// and an over-long result is cut to 64 characters. Characters that read as
// ASCII become that ASCII: accents are dropped ("café" gives "cafe", in NFC or
// NFD), invisible characters vanish ("payment\u200dCert" gives "paymentCert"),
// fullwidth letters and Cyrillic or Greek letters drawn like Latin ones become
// the Latin letter; any other character is a word break. It returns "" when no
// letter or digit remains, since a name made only of "_" or "$" would be a
// poor guess. A valid name is returned unchanged.
func SuggestName(name string) string {
	var folded strings.Builder
	for _, r := range name {
		if s, ok := foldRune(r); ok {
			folded.WriteString(s)
		} else {
			folded.WriteByte(' ')
		}
	}
	var b strings.Builder
	newWord := false
	for _, r := range folded.String() {
		if !isIdentifierPart(r) {
			newWord = b.Len() > 0
			continue
		}
		// Only characters that can start an identifier are trimmed from the
		// front; a digit is kept and fixed with "_" below, because dropping
		// it could change the meaning ("2fa" is not "fa").
		if b.Len() == 0 && !isIdentifierStart(r) && !isDigit(r) {
			continue
		}
		if newWord {
			r = unicode.ToUpper(r)
			newWord = false
		}
		b.WriteRune(r)
	}
	s := b.String()
	if !strings.ContainsFunc(s, isLetterOrDigit) {
		return ""
	}
	if first, _ := utf8.DecodeRuneInString(s); !isIdentifierStart(first) {
		s = "_" + s
	}
	s = truncateRunes(s, maxNameLen)
	if reservedWords[s] {
		s += "Cert"
	}
	// The rules above should always produce a valid name; checking keeps the
	// promise that a suggestion is never itself refused.
	if what, _ := nameProblem(s); what != "" {
		return ""
	}
	return s
}

func isLetterOrDigit(r rune) bool {
	return isDigit(r) || r != '_' && r != '$' && isIdentifierStart(r)
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}
