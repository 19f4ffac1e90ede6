// Package validate checks names and enumerations that arrive from untrusted
// input (REST bodies, CLI flags) before they reach business logic.
//
// Every failure is an *Error that names the offending field and says, in a
// sentence meant for the user, what was wrong and what to do instead. A
// handler can therefore map it to InvalidArgument without parsing text.
package validate

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Error reports an invalid value from a request. Field is the input the value
// came from ("name", "account", "project" or "environmentTypes"); Msg is the
// complete message for the user.
type Error struct {
	Field string
	Msg   string
}

// Error returns Msg unchanged, so the text the user sees is exactly the one
// written at the point of validation.
func (e *Error) Error() string { return e.Msg }

// maxQuoted bounds how much of a rejected value a message echoes back: a
// request body can be megabytes long, and an error should stay one line.
const maxQuoted = 64

// Quote renders untrusted input for a message: Go quoting makes invisible and
// control characters visible, and long values are cut with a trailing "…"
// after maxQuoted characters. Every message of certbind that repeats what a
// user sent quotes it so.
func Quote(s string) string { return quote(s) }

// DescribeByte names the character of s that starts at byte offset i, for
// the route and gateway messages: a stray byte of broken UTF-8 has no
// character to show, so it is given by value ("byte 0x..").
func DescribeByte(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[i])
	}
	return strconv.QuoteRune(r)
}

// quote is Quote.
func quote(s string) string {
	n := 0
	for i := range s {
		if n == maxQuoted {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// describeAt names the character of s that starts at byte offset i. A stray
// byte of broken UTF-8 is shown by value, since it has no character to quote,
// and a combining mark is escaped because on its own it would render on top
// of the quote sign. With escapeAll, every character beyond ASCII is escaped,
// for messages whose point is a character that looks like another one or
// like nothing at all.
func describeAt(s string, i int, escapeAll bool) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size <= 1:
		return "invalid UTF-8 byte 0x" + strconv.FormatUint(uint64(s[i]), 16)
	case escapeAll || unicode.Is(unicode.M, r):
		return strconv.QuoteRuneToASCII(r)
	}
	return strconv.QuoteRune(r)
}
