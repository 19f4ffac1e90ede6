// Package grpcerr holds the status answers every certbind service gives
// alike, so that each service's error mapper gives them the same way.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/status"
)

// FromContext answers a call that ended because its context did: Canceled
// or DeadlineExceeded, with the context error's text. ok is false, and the
// status nil, for any other error (nil included).
func FromContext(err error) (st error, ok bool) {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, false
	}
	return status.FromContextError(err).Err(), true
}
