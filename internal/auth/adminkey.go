package auth

import (
	"fmt"
	"unicode/utf8"
)

// MinAdminKeyLen is the shortest admin key accepted, in characters. The
// admin key is compared as given, without rate limits, so its strength is
// all that stands between the network and every account: 32 characters of
// hex (`openssl rand -hex 16`) is 128 bits.
const MinAdminKeyLen = 32

// CheckAdminKey refuses a non-empty admin key shorter than MinAdminKeyLen;
// an empty key means no admin key and passes. The error gives the length
// and never the key.
func CheckAdminKey(key string) error {
	n := utf8.RuneCountInString(key)
	if key == "" || n >= MinAdminKeyLen {
		return nil
	}
	unit := "characters"
	if n == 1 {
		unit = "character"
	}
	return fmt.Errorf("the admin key is %d %s long; it must be at least %d: make a random one with `openssl rand -hex 32`", n, unit, MinAdminKeyLen)
}
