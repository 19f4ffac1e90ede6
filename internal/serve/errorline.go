package serve

import "strings"

// ErrorLine is how a service's main reports the error that ended it: one
// line, "error: PROGRAM: what went wrong". Errors from the service's own
// packages often start with the program's name already ("certmgr: open
// ..."); it is written once. A message of several lines is joined into
// one, so that the failure stays a single line on stderr.
func ErrorLine(program string, err error) string {
	msg := strings.TrimPrefix(err.Error(), program+": ")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
	return "error: " + program + ": " + msg
}
