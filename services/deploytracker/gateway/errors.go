package gateway

import (
	"fmt"
	"strings"

	"github.com/certbind/certbind/internal/validate"
)

// Error reports a problem in a gateway config, a deployment variable or an
// env file. Msg is the complete message for the user; Route and Option repeat
// where the problem is, so that a program can point at the spot without
// parsing text. A caller maps an *Error to InvalidArgument as it is.
type Error struct {
	// Route is the 0-based index of the route in "routes", or -1 when the
	// problem is not inside one route: JSON syntax, top-level keys,
	// variables and env files.
	Route int
	// Option is the key at fault inside the route: "path", "methods",
	// "handler", "handler.export", "handler.options", or a handler option
	// such as "baseUrl" or "mtlsCertificate". It is "" when Route is -1 or
	// when the route as a whole is at fault.
	Option string
	Msg    string
}

// Error returns Msg unchanged, so the user reads exactly the text written
// where the problem was found.
func (e *Error) Error() string { return e.Msg }

// errorf returns an *Error that belongs to no route.
func errorf(format string, args ...any) *Error {
	return &Error{Route: -1, Msg: fmt.Sprintf(format, args...)}
}

// maxListed bounds how many untrusted keys one message names.
const maxListed = 5

// quotedList joins items for a sentence: "a", "b" and "c".
func quotedList(items []string) string {
	more := 0
	if len(items) > maxListed {
		more = len(items) - maxListed
		items = items[:maxListed]
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = validate.Quote(s)
	}
	if more > 0 {
		return strings.Join(q, ", ") + fmt.Sprintf(" and %d more", more)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// unknownKeys describes keys that an object does not take, with the keys it
// does take and, for a near miss, the key probably meant. owner says what
// the object is, as in "a route takes ...".
func unknownKeys(unknown, known []string, owner string) string {
	msg := "unknown key "
	if len(unknown) > 1 {
		msg = "unknown keys "
	}
	msg += quotedList(unknown) + " ("
	for _, k := range unknown {
		s := suggest(k, known...)
		if s == "" {
			continue
		}
		if len(unknown) == 1 {
			msg += fmt.Sprintf("did you mean %q? ", s)
		} else {
			msg += fmt.Sprintf("did you mean %q for %s? ", s, validate.Quote(k))
		}
		break
	}
	return msg + owner + " takes " + quotedList(known) + ")"
}
