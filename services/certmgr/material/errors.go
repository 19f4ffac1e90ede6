package material

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field values of an Error: the input that has to change.
const (
	FieldCertificate = "certificate" // Input.CertificatePEM, or the PEM given to ParseCA
	FieldKey         = "key"         // Input.KeyPEM
	FieldPKCS12      = "pkcs12"      // Input.PKCS12
	// FieldPassphrase is Input.KeyPassphrase for PEM uploads and
	// Input.PKCS12Password for PKCS#12 uploads; only one of them is ever in
	// play.
	FieldPassphrase = "passphrase"
)

// Error reports unusable certificate material. Field says which input is at
// fault and Msg, a complete sentence for the user, says what was wrong and
// what to do. A handler maps it to InvalidArgument as it is.
type Error struct {
	Field string
	Msg   string
}

// Error returns Msg unchanged, so the user reads exactly the text written
// where the problem was found.
func (e *Error) Error() string { return e.Msg }

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxEcho bounds how much of a certificate name or a library message an
// error repeats: both come from the upload and can be long.
const maxEcho = 80

// clean makes untrusted text safe for a one-line message: control and other
// invisible characters become '?', and long text is cut with "…".
func clean(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxEcho {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// date formats t for messages: RFC 3339 in UTC, so users in any time zone
// compare it with the same clock.
func date(t time.Time) string { return t.UTC().Format(time.RFC3339) }
