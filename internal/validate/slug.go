package validate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxSlugLen matches a DNS label, so an account or project can appear in a
// host name or URL path without escaping.
const maxSlugLen = 63

const slugRule = "use 1 to 63 lowercase letters, digits or '-', starting with a letter or digit and not ending with '-'"

// Account checks an account name: a lowercase slug of 1 to 63 characters
// from [a-z0-9-] that starts with a letter or digit and does not end with '-'.
func Account(s string) error { return checkSlug("account", s, "acme") }

// Project checks a project name with the same rules as Account.
func Project(s string) error { return checkSlug("project", s, "shop") }

// Environment checks a deployment's environment name, which appears in its
// URL, with the same rules as Account.
func Environment(s string) error { return checkSlug("environment", s, "production") }

// checkSlug validates s for field; example is shown when nothing better
// can be derived from s.
func checkSlug(field, s, example string) error {
	var what string
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		what = "is empty"
	case n > maxSlugLen:
		what = fmt.Sprintf("is %d characters long, over the limit of %d", n, maxSlugLen)
	default:
		problem := slugProblem(s)
		if problem == "" {
			return nil
		}
		what = quote(s) + " is not valid: " + problem
	}
	suggestion := suggestSlug(s)
	if suggestion == "" {
		suggestion = example
	}
	return &Error{Field: field, Msg: fmt.Sprintf("%s %s (%s; e.g. %s)", field, what, slugRule, strconv.Quote(suggestion))}
}

// slugProblem describes the first rule s breaks, or returns "".
func slugProblem(s string) string {
	pos := 0
	for i, r := range s {
		pos++
		if !isSlugChar(r) {
			return fmt.Sprintf("%s at position %d is not allowed", describeAt(s, i, false), pos)
		}
	}
	switch {
	case s[0] == '-':
		return "it starts with '-'"
	case s[len(s)-1] == '-':
		return "it ends with '-'"
	}
	return ""
}

func isSlugChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
}

// suggestSlug lowercases s, turns every run of other characters into a single
// '-' and trims what the rules forbid at the ends. It returns "" when nothing
// remains or the result would not differ from s.
func suggestSlug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if !isSlugChar(r) || r == '-' {
			dash = true
			continue
		}
		need := 1
		if dash && b.Len() > 0 {
			need = 2
		}
		if b.Len()+need > maxSlugLen {
			break
		}
		if need == 2 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(r)
	}
	out := b.String()
	if out == "" || out == s || slugProblem(out) != "" {
		return ""
	}
	return out
}
