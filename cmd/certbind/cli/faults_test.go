package cli

import (
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The faults below are answers the real suite cannot be made to give; a
// recorder (realsuite_test.go) injects them in front of it.

// dropNameFilter passes a request on without its ?name=, as a server that
// ignored the filter would answer it.
func dropNameFilter(_ http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	q.Del("name")
	r.URL.RawQuery = q.Encode()
	return false
}

// failReferences answers the references call of a certificate with the
// given HTTP status, gRPC code and message, as a server that predates the
// call (501, 12) or whose deploytracker is down (503, 14) does.
func failReferences(httpStatus, code int, msg string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/references") {
			return false
		}
		writeStatus(w, httpStatus, code, msg)
		return true
	}
}

func writeMessage(w http.ResponseWriter, m proto.Message) {
	b, _ := protojson.Marshal(m)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func writeStatus(w http.ResponseWriter, httpStatus, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	fmt.Fprintf(w, `{"code":%d,"message":%q,"details":[]}`, code, msg)
}
