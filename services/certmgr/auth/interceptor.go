package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Public lists full method names served without a key: health checks and
// reflection, which reveal nothing about any account.
var Public = map[string]bool{
	"/grpc.health.v1.Health/Check":                                   true,
	"/grpc.health.v1.Health/Watch":                                   true,
	"/grpc.health.v1.Health/List":                                    true,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
}

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	if Public[method] {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no API key: send \"Authorization: Bearer KEY\" (the CLI reads --api-key or CERTBIND_API_KEY)")
	}
	secret, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "the authorization header must be \"Bearer KEY\"")
	}
	p, err := a.Authenticate(strings.TrimSpace(secret))
	if errors.Is(err, ErrUnauthenticated) {
		return nil, status.Error(codes.Unauthenticated, "the API key is not valid: check --api-key or CERTBIND_API_KEY")
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "cannot check the API key")
	}
	return WithPrincipal(ctx, p), nil
}

// UnaryInterceptor authenticates every unary call but the Public ones.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor authenticates every stream but the Public ones.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
