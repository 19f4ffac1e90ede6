package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/grpcerr"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// errStopping ends the revocation streams when certmgr stops; their
// followers reconnect.
var errStopping = errors.New("certmgr is stopping")

// errRevocationsBehind ends a revocation stream whose follower fell too
// far behind; it starts over.
var errRevocationsBehind = errors.New("revocations came faster than this follower read them: reconnect for the full list")

// toStatus maps a domain error to a gRPC status. Unknown errors are logged
// here, once, and answered as Internal without detail.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if st, ok := grpcerr.FromContext(err); ok {
		return st
	}
	if st, ok := grpcerr.FromStore(err); ok {
		log.WarnContext(ctx, "store unavailable", slog.String("method", method), slog.String("error", err.Error()))
		return st
	}
	var forbidden *auth.ForbiddenError
	var limit *changefeed.LimitError
	switch {
	case errors.As(err, &forbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, auth.ErrKeyInactive):
		return status.Error(codes.Unauthenticated, auth.InactiveMessage)
	case errors.Is(err, auth.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, "the API key is not valid")
	case errors.Is(err, auth.ErrKeyNotFound):
		// The same answer whether the key is missing or another account's.
		return status.Error(codes.NotFound, "no API key with that id that this key may manage (list them with `certbind api-key list`)")
	case errors.As(err, &limit), errors.Is(err, changefeed.ErrStalled), errors.Is(err, material.ErrTooManyDerivations):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, certs.ErrTypesChanging), errors.Is(err, certs.ErrBusy), errors.Is(err, masterkey.ErrNoCheckValue), errors.Is(err, masterkey.ErrKeyFile),
		errors.Is(err, masterkey.ErrNoStagedKey), errors.Is(err, store.ErrKeyNotEverywhere), errors.Is(err, store.ErrRotationInProgress):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, errStopping):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, errRevocationsBehind):
		return status.Error(codes.Aborted, err.Error())
	case certs.IsInvalid(err):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, certs.ErrNotFound):
		return status.Error(codes.NotFound, "no certificate with that id in this account and project (list them with `certbind mtls-certificate list`)")
	case errors.Is(err, certs.ErrNameTaken):
		return status.Error(codes.AlreadyExists, err.Error()+" in this account and project: choose another --name, or delete the existing certificate first")
	case errors.Is(err, certs.ErrReferenced):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, certs.ErrDeleting):
		return status.Error(codes.FailedPrecondition, err.Error()+": wait for the delete to finish, or retry it")
	case errors.Is(err, store.ErrUndecodable):
		log.WarnContext(ctx, "write to a damaged certificate refused", slog.String("method", method), slog.String("error", err.Error()))
		return status.Error(codes.DataLoss, err.Error())
	case errors.Is(err, certs.ErrReferencesUnavailable):
		log.WarnContext(ctx, "reference check failed", slog.String("method", method), slog.String("error", err.Error()))
		return status.Error(codes.Unavailable, err.Error())
	}
	log.ErrorContext(ctx, "request failed", slog.String("method", method), slog.String("error", err.Error()))
	return status.Error(codes.Internal, "internal error; the server log has the details")
}
