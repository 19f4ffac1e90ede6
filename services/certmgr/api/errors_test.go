package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/grpcerr"
	"github.com/certbind/certbind/internal/stream"
	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/material"
)

// TestToStatus pins the code and text each error the handlers return is
// answered with: the CLI and the REST facade show these texts, and clients
// branch on the codes.
func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{context.Canceled, codes.Canceled, "context canceled"},
		{fmt.Errorf("follow: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "follow: context deadline exceeded"},
		{status.Error(codes.PermissionDenied, "as it was"), codes.PermissionDenied, "as it was"},
		{&auth.ForbiddenError{Msg: "only the admin key may create API keys"}, codes.PermissionDenied, "only the admin key may create API keys"},
		{fmt.Errorf("issue: %w", auth.ErrKeyInactive), codes.Unauthenticated, auth.InactiveMessage},
		{auth.ErrUnauthenticated, codes.Unauthenticated, "the API key is not valid"},
		{auth.ErrKeyNotFound, codes.NotFound, "no API key with that id that this key may manage (list them with `certbind api-key list`)"},
		{errNoKeyID, codes.InvalidArgument, "no key id: pass --id (see `certbind api-key list`)"},
		{stream.ErrProjectWithoutAccount, codes.InvalidArgument, "a project scope needs an account: set account too"},
		{&validate.Error{Field: "role", Msg: "role \"root\" is not known"}, codes.InvalidArgument, "role \"root\" is not known"},
		{&changefeed.LimitError{Limit: "key", Max: 2}, codes.ResourceExhausted, (&changefeed.LimitError{Limit: "key", Max: 2}).Error()},
		{&changefeed.StallError{}, codes.ResourceExhausted, (&changefeed.StallError{}).Error()},
		{material.ErrTooManyDerivations, codes.ResourceExhausted, material.ErrTooManyDerivations.Error()},
		{certs.ErrTypesChanging, codes.FailedPrecondition, certs.ErrTypesChanging.Error()},
		{masterkey.ErrNoCheckValue, codes.FailedPrecondition, masterkey.ErrNoCheckValue.Error()},
		{fmt.Errorf("%w: read-only", masterkey.ErrKeyFile), codes.FailedPrecondition, "cannot write the new master key file: read-only"},
		{errStopping, codes.Unavailable, "certmgr is stopping"},
		{errRevocationsBehind, codes.Aborted, "revocations came faster than this follower read them: reconnect for the full list"},
		{certs.ErrNotFound, codes.NotFound, "no certificate with that id in this account and project (list them with `certbind mtls-certificate list`)"},
		{etcdkv.Unavailable("update the certificate", "/certbind/", errors.New("etcdserver: leader changed")), codes.Unavailable, grpcerr.StoreUnavailableMessage},
		{fmt.Errorf("rotate: %w", rpctypes.ErrLeaderChanged), codes.Unavailable, grpcerr.StoreUnavailableMessage},
		{fmt.Errorf("rotate: %w", rpctypes.ErrNoLeader), codes.Unavailable, grpcerr.StoreUnavailableMessage},
		{errors.New("disk on fire"), codes.Internal, "internal error; the server log has the details"},
	} {
		var logged bytes.Buffer
		got := status.Convert(toStatus(context.Background(), slog.New(slog.NewTextHandler(&logged, nil)), "Test", tc.err))
		if got.Code() != tc.code || got.Message() != tc.msg {
			t.Errorf("toStatus(%T %v) = %v %q, want %v %q", tc.err, tc.err, got.Code(), got.Message(), tc.code, tc.msg)
		}
		// Only an error the mapper does not know is logged (once, here).
		if wantLog := tc.code == codes.Internal; wantLog != strings.Contains(logged.String(), "request failed") {
			t.Errorf("toStatus(%v) logged %q", tc.err, logged.String())
		}
	}
}
