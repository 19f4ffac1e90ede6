package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/store"
)

// toStatus maps a domain error to a gRPC status. Unknown errors are logged
// here, once, and answered as Internal without detail.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
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
