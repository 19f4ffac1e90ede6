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

func authenticate(ctx context.Context, v Verifier, method string) (context.Context, error) {
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
	p, err := v.Authenticate(strings.TrimSpace(secret))
	if errors.Is(err, ErrKeyInactive) {
		return nil, status.Error(codes.Unauthenticated, InactiveMessage)
	}
	if errors.Is(err, ErrUnauthenticated) {
		return nil, status.Error(codes.Unauthenticated, "the API key is not valid: check --api-key or CERTBIND_API_KEY")
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, "cannot check the API key right now; try again")
	}
	return WithPrincipal(ctx, p), nil
}

// UnaryInterceptor authenticates every unary call but the Public ones.
func UnaryInterceptor(v Verifier) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, v, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor authenticates every stream but the Public ones.
func StreamInterceptor(v Verifier) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authenticate(ss.Context(), v, info.FullMethod)
		if err != nil {
			return err
		}
		t, ok := v.(streamTracker)
		p, authenticated := FromContext(ctx)
		if !ok || !authenticated {
			return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
		}
		// The stream lives as long as its key: revoking the key (or its
		// expiry) cancels ctx, and the stream ends Unauthenticated.
		ctx, done, err := t.OpenStreams().track(ctx, p)
		if err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		defer done()
		// The handler runs on its own goroutine so that the key's end can
		// end the stream even while the handler is blocked sending to a
		// client that stopped reading: returning here ends the stream,
		// which fails that send, and the handler returns. Otherwise it
		// would hold the stream (and its place under the stream limits)
		// until the stall watchdog gave up on it.
		handled := make(chan error, 1)
		go func() { handled <- handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx}) }()
		select {
		case err = <-handled:
		case <-ctx.Done():
			if ended := endedByKey(ctx); ended != nil {
				return ended
			}
			err = <-handled
		}
		if ended := endedByKey(ctx); ended != nil {
			return ended
		}
		return err
	}
}

// ServerOptions installs both interceptors.
func ServerOptions(v Verifier) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryInterceptor(v)),
		grpc.ChainStreamInterceptor(StreamInterceptor(v)),
	}
}

// BearerCredentials attaches a key to every outgoing call, for one service
// calling another.
type BearerCredentials struct {
	Key string
	// Secure requires transport security, unless the target is loopback.
	Secure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.Key}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b BearerCredentials) RequireTransportSecurity() bool { return b.Secure }

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// SendMsg sends nothing more once the stream's key is revoked or expired,
// even if the handler has not noticed yet: an edge key's stream carries
// private keys.
func (w *wrappedStream) SendMsg(m any) error {
	if ended := endedByKey(w.ctx); ended != nil {
		return ended
	}
	return w.ServerStream.SendMsg(m)
}
