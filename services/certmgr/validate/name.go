package validate

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// maxNameLen is the longest certificate name accepted, in characters. Names
// appear in gateway configs and CLI tables, where anything longer is noise.
const maxNameLen = 64

// The joiners are allowed inside identifiers by ECMAScript because some
// scripts (Persian, Indic) need them to spell words correctly.
const (
	zeroWidthNonJoiner = '\u200C'
	zeroWidthJoiner    = '\u200D'
)

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

// CertificateName checks that name is a valid JavaScript identifier (the
// ECMAScript IdentifierName rules), 1 to 64 characters long and not a
// reserved word. The error says why the name was refused and, when one can
// be derived, suggests a name that would be accepted.
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
	pos := 0
	for i, r := range name {
		pos++
		// Broken UTF-8 decodes as U+FFFD, which is no identifier character,
		// so it is refused here too; describeAt tells the two apart.
		switch {
		case pos == 1 && !isIdentifierStart(r):
			return fmt.Sprintf("%q is not a valid JavaScript identifier: it starts with %s", name, describeAt(name, i)),
				"start with a letter, _ or $"
		case !isIdentifierPart(r):
			return fmt.Sprintf("%q is not a valid JavaScript identifier: %s at position %d is not allowed", name, describeAt(name, i), pos),
				"use letters, digits, _ or $"
		}
	}
	if reservedWords[name] {
		return fmt.Sprintf("%q is a reserved word in JavaScript", name), "choose another name"
	}
	return "", ""
}

// isIdentifierStart reports whether r may begin an identifier.
func isIdentifierStart(r rune) bool {
	return r == '$' || r == '_' || unicode.IsLetter(r) || unicode.Is(unicode.Nl, r)
}

// isIdentifierPart reports whether r may appear after the first character.
func isIdentifierPart(r rune) bool {
	return isIdentifierStart(r) ||
		unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc) ||
		r == zeroWidthNonJoiner || r == zeroWidthJoiner
}
