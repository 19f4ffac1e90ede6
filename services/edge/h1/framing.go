package h1

import (
	"bytes"
	"net/http"

	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

// The framing rules of RFC 9112 that net/http's parser does not enforce
// and cannot report, since it takes the framing fields out of the header
// it returns:
//
//   - A request with both Content-Length and Transfer-Encoding (section
//     6.3) is read as chunked, as the parser does, and served; then the
//     connection is closed. Another server in the path may have framed
//     the message by its Content-Length, and the two would disagree on
//     where the next request starts: so no next request is read.
//   - A Transfer-Encoding in an HTTP/1.0 request (section 6.1) is refused
//     with 400: the parser ignores it and frames the body by the
//     Content-Length or as empty, which is not what a server that took
//     the field would do.
//
// Only the requests the parser read are concerned: a plain head (see
// parsePlainHead) has neither field.

// errTransferEncoding10 refuses an HTTP/1.0 request with Transfer-Encoding.
var errTransferEncoding10 = statusError{http.StatusBadRequest,
	"HTTP/1.0 has no Transfer-Encoding (send the body with Content-Length, or use HTTP/1.1)"}

// headComplete reports whether b holds the end of a request head as
// net/http's parser finds it: a line that is empty once its CR is taken
// off. The parser then reads nothing more from the connection.
func headComplete(b []byte) bool {
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}

// checkFraming applies the rules above to a request the parser read from
// head. It reports whether the connection must close after the answer.
func checkFraming(req *http.Request, head []byte) (closeAfter bool, err error) {
	switch {
	case !req.ProtoAtLeast(1, 1):
		// The parser drops a Transfer-Encoding of HTTP/1.0.
		if _, te, _ := httpfield.Framing(head); te {
			return false, errTransferEncoding10
		}
	case len(req.TransferEncoding) > 0:
		// The parser drops the Content-Length of a chunked request.
		cl, _, _ := httpfield.Framing(head)
		return cl, nil
	}
	return false, nil
}
