package grpcerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestFromContext(t *testing.T) {
	for _, tc := range []struct {
		err  error
		ok   bool
		code codes.Code
		msg  string
	}{
		{context.Canceled, true, codes.Canceled, "context canceled"},
		{context.DeadlineExceeded, true, codes.DeadlineExceeded, "context deadline exceeded"},
		{fmt.Errorf("follow: %w", context.Canceled), true, codes.Canceled, "follow: context canceled"},
		{errors.New("disk full"), false, codes.OK, ""},
		{nil, false, codes.OK, ""},
	} {
		st, ok := FromContext(tc.err)
		if ok != tc.ok {
			t.Errorf("FromContext(%v): ok %v, want %v", tc.err, ok, tc.ok)
			continue
		}
		if !ok {
			if st != nil {
				t.Errorf("FromContext(%v) = %v, want nil", tc.err, st)
			}
			continue
		}
		s := status.Convert(st)
		if s.Code() != tc.code || s.Message() != tc.msg {
			t.Errorf("FromContext(%v) = %v %q, want %v %q", tc.err, s.Code(), s.Message(), tc.code, tc.msg)
		}
	}
}

type codedError codes.Code

func (e codedError) Error() string    { return "coded " + codes.Code(e).String() }
func (e codedError) Code() codes.Code { return codes.Code(e) }

func TestFromStore(t *testing.T) {
	for _, tc := range []struct {
		err error
		ok  bool
	}{
		{fmt.Errorf("create: %w", ErrStoreUnavailable), true},
		{fmt.Errorf("create: %w", codedError(codes.Unavailable)), true},
		{fmt.Errorf("create: %w", codedError(codes.InvalidArgument)), false},
		{errors.New("disk on fire"), false},
		{nil, false},
	} {
		st, ok := FromStore(tc.err)
		if ok != tc.ok {
			t.Errorf("FromStore(%v) ok = %v, want %v", tc.err, ok, tc.ok)
			continue
		}
		if ok && (status.Code(st) != codes.Unavailable || status.Convert(st).Message() != StoreUnavailableMessage) {
			t.Errorf("FromStore(%v) = %v", tc.err, st)
		}
	}
}
