// Package grpcerr holds the status answers every certbind service gives
// alike, so that each service's error mapper gives them the same way.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
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

// ErrStoreUnavailable marks a store error that a retry may cure: the
// store's cluster is unreachable or electing a leader. The stores wrap their
// client's errors with it; the error mappers answer it as Unavailable.
var ErrStoreUnavailable = errors.New("the store is unavailable")

// StoreUnavailableMessage is what a caller is told when the store is
// unavailable; the details (endpoints, prefix, the client's error) are for
// the operator's log, not for the caller.
const StoreUnavailableMessage = "the service's store is unavailable for a moment (its etcd cluster is unreachable or electing a leader); try again (a write answered this way may have been applied: check before repeating it)"

// FromStore answers as Unavailable an error marked ErrStoreUnavailable, or
// one that carries the code Unavailable from a store's client (etcd's
// client errors have a Code method: "etcdserver: leader changed", "no
// leader"), wherever a store returned it unwrapped. ok is false, and the
// status nil, for any other error.
func FromStore(err error) (st error, ok bool) {
	var coded interface{ Code() codes.Code }
	if !errors.Is(err, ErrStoreUnavailable) && (!errors.As(err, &coded) || coded.Code() != codes.Unavailable) {
		return nil, false
	}
	return status.Error(codes.Unavailable, StoreUnavailableMessage), true
}
