package validate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLifetime is the longest --expires-in accepted: ten years.
const MaxKeyLifetime = 3650 * 24 * time.Hour

const expiresInForms = `a number and a unit: d (days), h, m or s, e.g. "90d", "12h", "30m" or "1h30m"`

// ExpiresIn parses how long an API key stays valid: "90d", "2w", "12h",
// "30m", "45s" or Go's duration forms such as "1h30m". Empty means no
// expiry (0). It must be positive and at most MaxKeyLifetime.
func ExpiresIn(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := parseLifetime(s)
	if err != nil {
		return 0, &Error{Field: "expiresIn", Msg: fmt.Sprintf("expiry %s is not a duration: use %s", quote(s), expiresInForms)}
	}
	if d <= 0 {
		return 0, &Error{Field: "expiresIn", Msg: fmt.Sprintf("expiry %s must be more than zero, e.g. \"90d\"; leave it out for a key that does not expire", quote(s))}
	}
	if d > MaxKeyLifetime {
		return 0, &Error{Field: "expiresIn", Msg: fmt.Sprintf("expiry %s is longer than 3650d (ten years); leave it out for a key that does not expire", quote(s))}
	}
	return d, nil
}

// parseLifetime accepts whole days ("90d") and weeks ("2w"), which Go's
// time.ParseDuration does not, and everything it does.
func parseLifetime(s string) (time.Duration, error) {
	for unit, size := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.ParseInt(n, 10, 32)
			if err != nil || v < 0 || n == "" || n[0] == '+' {
				return 0, fmt.Errorf("bad number")
			}
			if time.Duration(v) > MaxKeyLifetime/size+1 {
				return MaxKeyLifetime + 1, nil
			}
			return time.Duration(v) * size, nil
		}
	}
	return time.ParseDuration(s)
}

// MaxKeyNameLen is the longest API key name, in characters.
const MaxKeyNameLen = 64

// KeyName checks an API key's name: a label for people, at most
// MaxKeyNameLen printable characters, possibly empty.
func KeyName(s string) error {
	if !utf8.ValidString(s) {
		return &Error{Field: "name", Msg: "key name is not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(s); n > MaxKeyNameLen {
		return &Error{Field: "name", Msg: fmt.Sprintf("key name is %d characters long; use at most %d", n, MaxKeyNameLen)}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return &Error{Field: "name", Msg: fmt.Sprintf("key name %s holds a control or invisible character; use letters, digits, spaces and punctuation", quote(s))}
		}
	}
	return nil
}
