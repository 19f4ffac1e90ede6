package validate

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxNameLen is the longest certificate name accepted, in characters. Names
// appear in gateway configs and CLI tables, where anything longer is noise.
const maxNameLen = 64

// reservedWords are the ECMAScript reserved words, including those reserved
// only in strict mode and the literals. A certificate name is referenced from
// gateway configs that are JavaScript-shaped, so it must never be one of them.
var reservedWords = map[string]bool{
	"await": true, "break": true, "case": true, "catch": true, "class": true,
	"const": true, "continue": true, "debugger": true, "default": true,
	"delete": true, "do": true, "else": true, "enum": true, "export": true,
	"extends": true, "false": true, "finally": true, "for": true,
	"function": true, "if": true, "implements": true, "import": true,
	"in": true, "instanceof": true, "interface": true, "let": true, "new": true,
	"null": true, "package": true, "private": true, "protected": true,
	"public": true, "return": true, "static": true, "super": true,
	"switch": true, "this": true, "throw": true, "true": true, "try": true,
	"typeof": true, "var": true, "void": true, "while": true, "with": true,
	"yield": true,
}

// CertificateName checks that name is an ASCII JavaScript identifier
// ([A-Za-z_$][A-Za-z0-9_$]*), 1 to 64 characters long and not a reserved
// word. ASCII only, because ECMAScript's own rules admit names that look
// alike and differ (a zero-width joiner, a Cyrillic "а" for a Latin "a", NFC
// and NFD "café"), and two such names must not both exist in a project. The
// error says why the name was refused and, when one can be derived, suggests
// a name that would be accepted.
func CertificateName(name string) error {
	what, hint := nameProblem(name)
	if what == "" {
		return nil
	}
	if s := SuggestName(name); s != "" {
		hint += "; e.g. " + strconv.Quote(s)
	}
	return &Error{Field: "name", Msg: fmt.Sprintf("certificate name %s (%s)", what, hint)}
}

// nameProblem returns what is wrong with name and how to fix it, or two empty
// strings when name is valid. It never suggests a name, so SuggestName can use
// it to check its own output.
func nameProblem(name string) (what, hint string) {
	if name == "" {
		return "is empty", `use a JavaScript identifier such as "myBackendCert"`
	}
	// Length comes first so that the messages below, which quote the name in
	// full, never echo more than maxNameLen characters.
	if n := utf8.RuneCountInString(name); n > maxNameLen {
		return fmt.Sprintf("is %d characters long, over the limit of %d", n, maxNameLen), "shorten it"
	}
	// ASCII is checked over the whole name before anything else, so that
	// every message quoting a non-ASCII name shows it escaped. Broken UTF-8
	// is not ASCII either; describeAt names its byte.
	pos := 0
	for i, r := range name {
		pos++
		if r >= utf8.RuneSelf {
			return fmt.Sprintf("%s is not ASCII: %s at position %d is not allowed", strconv.QuoteToASCII(name), describeAt(name, i, true), pos),
				"certificate names use only the ASCII letters A-Z and a-z, digits, _ and $, so that names that look alike cannot both exist"
		}
	}
	pos = 0
	for i, r := range name {
		pos++
		switch {
		case pos == 1 && !isIdentifierStart(r):
			return fmt.Sprintf("%q is not a valid JavaScript identifier: it starts with %s", name, describeAt(name, i, false)),
				"start with a letter, _ or $"
		case !isIdentifierPart(r):
			return fmt.Sprintf("%q is not a valid JavaScript identifier: %s at position %d is not allowed", name, describeAt(name, i, false), pos),
				"use letters, digits, _ or $"
		}
	}
	if reservedWords[name] {
		return fmt.Sprintf("%q is a reserved word in JavaScript", name), "choose another name"
	}
	return "", ""
}

// isIdentifierStart reports whether r may begin a name.
func isIdentifierStart(r rune) bool {
	return r == '$' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// isIdentifierPart reports whether r may appear after the first character.
func isIdentifierPart(r rune) bool {
	return isIdentifierStart(r) || isDigit(r)
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }
