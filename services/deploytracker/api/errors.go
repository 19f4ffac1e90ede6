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
	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/gateway"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// toStatus maps a domain error to a gRPC status; unknown errors are logged
// once here and answered as Internal.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ge *gateway.Error
	var ie *deploy.InputError
	var ve *validate.Error
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
	case errors.As(err, &limit), errors.Is(err, changefeed.ErrStalled):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, deploy.ErrChanged):
		return status.Error(codes.FailedPrecondition, err.Error()+"; nothing was deployed")
	case errors.As(err, &ge), errors.As(err, &ie), errors.As(err, &ve):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, deploy.ErrNotFound):
		return status.Error(codes.NotFound, "no deployment with that id in this account and project (list them with `certbind deployment list`)")
	case errors.Is(err, store.ErrUndecodable):
		log.WarnContext(ctx, "damaged deployment record", slog.String("method", method), slog.String("error", err.Error()))
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, deploy.ErrCertmgrUnavailable):
		log.WarnContext(ctx, "certmgr unavailable", slog.String("method", method), slog.String("error", err.Error()))
		return status.Error(codes.Unavailable, "cannot reach certmgr to check the certificates; nothing was deployed, try again")
	}
	log.ErrorContext(ctx, "request failed", slog.String("method", method), slog.String("error", err.Error()))
	return status.Error(codes.Internal, "internal error; the server log has the details")
}
