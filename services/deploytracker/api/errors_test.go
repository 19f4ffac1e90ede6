package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/grpcerr"
	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/deploytracker/deploy"
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
		{&auth.ForbiddenError{Msg: "only edge and admin keys may watch deployments"}, codes.PermissionDenied, "only edge and admin keys may watch deployments"},
		{&validate.Error{Field: "config", Msg: "no gateway config"}, codes.InvalidArgument, "no gateway config"},
		{&deploy.InputError{Msg: "route 0: bad path"}, codes.InvalidArgument, "route 0: bad path"},
		{&changefeed.LimitError{Limit: "total", Max: 9}, codes.ResourceExhausted, (&changefeed.LimitError{Limit: "total", Max: 9}).Error()},
		{&changefeed.StallError{}, codes.ResourceExhausted, (&changefeed.StallError{}).Error()},
		{deploy.ErrChanged, codes.FailedPrecondition, "a certificate changed during the deploy; nothing was deployed"},
		{deploy.ErrCertmgrUnavailable, codes.Unavailable, "cannot reach certmgr to check the certificates; nothing was deployed, try again"},
		{etcdkv.Unavailable("update the certificate", "/certbind/", errors.New("etcdserver: leader changed")), codes.Unavailable, grpcerr.StoreUnavailableMessage},
		{errors.New("disk on fire"), codes.Internal, "internal error; the server log has the details"},
	} {
		var logged bytes.Buffer
		got := status.Convert(toStatus(context.Background(), slog.New(slog.NewTextHandler(&logged, nil)), "Test", tc.err))
		if got.Code() != tc.code || got.Message() != tc.msg {
			t.Errorf("toStatus(%T %v) = %v %q, want %v %q", tc.err, tc.err, got.Code(), got.Message(), tc.code, tc.msg)
		}
		if wantLog := tc.code == codes.Internal; wantLog != strings.Contains(logged.String(), "request failed") {
			t.Errorf("toStatus(%v) logged %q", tc.err, logged.String())
		}
	}
}
