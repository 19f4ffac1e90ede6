package h1

import (
	"context"
	"io"
	"sync"
)

// connContext is the context of every request on a connection: it ends
// when the client is seen to have gone, or when the connection ends. It
// holds one io.Closer to close when it ends (see CloseOnDone).
type connContext struct {
	context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closer io.Closer // nil: none
	seq    uint64    // counts registrations, so a stale Stop does nothing
}

func newConnContext() *connContext {
	x := &connContext{}
	x.Context, x.cancel = context.WithCancel(context.Background())
	return x
}

// end ends the context and closes what CloseOnDone registered.
func (x *connContext) end() {
	x.cancel()
	x.mu.Lock()
	cl := x.closer
	x.closer = nil
	x.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// CloseOnDone closes cl once ctx ends, unless the returned Registration is
// stopped first: context.AfterFunc(ctx, cl.Close), made cheap for the
// context of a request this package serves, where it allocates nothing
// and takes no lock but the connection's (a proxy registers its backend
// connection on every request). For any other context, or when a
// registration on the same connection has not been stopped, it is
// context.AfterFunc.
func CloseOnDone(ctx context.Context, cl io.Closer) Registration {
	if x, ok := ctx.(*connContext); ok {
		x.mu.Lock()
		if x.closer == nil && x.Err() == nil {
			x.seq++
			x.closer = cl
			r := Registration{x: x, seq: x.seq}
			x.mu.Unlock()
			return r
		}
		x.mu.Unlock()
	}
	return Registration{stop: context.AfterFunc(ctx, func() { cl.Close() })}
}

// Registration is what CloseOnDone arranged.
type Registration struct {
	x    *connContext
	seq  uint64
	stop func() bool
}

// Stop undoes the registration. It reports whether it did so before the
// closer was closed (or began to be): false means the context has ended
// and the closer is, or is being, closed.
func (r Registration) Stop() bool {
	if r.x == nil {
		return r.stop()
	}
	r.x.mu.Lock()
	defer r.x.mu.Unlock()
	if r.x.seq != r.seq || r.x.closer == nil {
		return false
	}
	r.x.closer = nil
	return true
}
