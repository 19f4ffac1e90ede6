// Package serve runs certbind's servers until a context ends and then stops
// them gracefully: the part every main shares. It also holds what every
// service sets alike: the garbage collector target, and the transport
// options of gRPC servers and clients.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

// Grace is how long a graceful stop may take before open requests and
// streams are cut.
const Grace = 10 * time.Second

// Listen listens on addr, an empty addr meaning a free loopback port (never
// every interface). Its errors name the flag that sets the address.
func Listen(ctx context.Context, addr, flag string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("listen on %s: the address is in use (is another certbind process running? pick another with %s)", addr, flag)
	case err != nil:
		return nil, fmt.Errorf("listen on %s: %w (set %s)", addr, err, flag)
	}
	return l, nil
}

// GRPC serves srv on lis until ctx ends, then stops it gracefully, cutting
// what is still open after Grace (watch streams only end when their
// clients go). It returns nil after a stop, or the error that ended serving.
func GRPC(srv *grpc.Server, lis net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(lis) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(Grace):
			srv.Stop()
		}
		return nil
	}
}

// HTTPServer is a server HTTP can run: *http.Server, or the edge's own.
type HTTPServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// HTTP serves srv on lis until ctx ends, then shuts it down within Grace.
func HTTP(srv HTTPServer, lis net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(lis) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), Grace)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}

// All runs tasks until ctx ends or one of them fails, which stops the
// others. It returns the first failure, or nil when ctx ended.
func All(ctx context.Context, tasks ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, task := range tasks {
		wg.Go(func() {
			err := task(ctx)
			if err != nil && ctx.Err() == nil {
				once.Do(func() { first = err })
			}
			cancel()
		})
	}
	wg.Wait()
	return first
}

// Exposed reports whether a listener at addr can be reached from other
// hosts: it is bound to neither a loopback address nor a socket file. The
// admin listeners (status, metrics) bind to loopback by default; an
// operator may choose otherwise, and the caller should log that it did.
func Exposed(addr net.Addr) bool {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UnixAddr:
		return false // a socket file is reached from this host only
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return true
		}
		ip = net.ParseIP(host)
	}
	return ip == nil || !ip.IsLoopback()
}
