package route

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxQuoted bounds how much of an untrusted value a message repeats, as the
// deploytracker's own messages do.
const maxQuoted = 64

// quote quotes s for a message, cut after maxQuoted characters.
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

// describeByte names the character of s that starts at byte offset i. A
// stray byte of broken UTF-8 has no character to show, so it is given by
// value.
func describeByte(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[i])
	}
	return strconv.QuoteRune(r)
}

// charCount counts the characters of s, counting each stray byte as one.
func charCount(s string) int {
	n := 0
	for range s {
		n++
	}
	return n
}
