package httpbench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// target is where the load generator sends: a host:port, a path prefix
// put before each Size's path, and the TLS configuration for a setup
// spoken to over TLS (nil: plain HTTP).
type target struct {
	addr   string
	prefix string
	tls    *tls.Config
	pid    int // the proxy's process (0: none, as for direct)
}

// window is one measured run of the closed loop: conc workers, each on
// its own keep-alive connection, send one request at a time. Requests that
// start during the warm-up prime connections, pools and caches and are
// not measured; those that start during the next dur are.
type window struct {
	conc        int
	warmup, dur time.Duration
	onMeasure   func() // called when measuring starts, in generate's goroutine
}

// load is what a window measured.
type load struct {
	latencies []time.Duration // of every measured request that succeeded, sorted
	errors    int             // failed requests, warm-up included
	firstErr  string
}

// requestTimeout bounds one request, so that a stuck setup fails the run
// instead of hanging it.
const requestTimeout = 10 * time.Second

func generate(ctx context.Context, t target, size Size, w window) load {
	start := time.Now()
	from, to := start.Add(w.warmup), start.Add(w.warmup+w.dur)
	results := make([]load, w.conc)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			c := newClient(t, size)
			defer c.close()
			r := &results[i]
			r.latencies = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				err := c.do(ctx)
				if err != nil {
					r.errors++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
					// Don't spin on a setup that refuses connections.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !t0.Before(from) {
					r.latencies = append(r.latencies, time.Since(t0))
				}
			}
		})
	}
	// The caller's goroutine marks the start of the measurement, so that
	// what onMeasure records is visible to it without more locking.
	select {
	case <-time.After(time.Until(from)):
		w.onMeasure()
	case <-ctx.Done():
	}
	wg.Wait()
	var all load
	for _, r := range results {
		all.latencies = append(all.latencies, r.latencies...)
		all.errors += r.errors
		if all.firstErr == "" {
			all.firstErr = r.firstErr
		}
	}
	sortDurations(all.latencies)
	return all
}

// client is one worker's HTTP/1.1 connection. It writes requests by hand
// and reads responses with net/http's parser, which keeps the generator
// cheap (it shares the CPUs with what it measures) and the same for every
// setup.
type client struct {
	t    target
	size Size
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func newClient(t target, size Size) *client {
	req := fmt.Sprintf("GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: certbind-httpbench\r\nAccept: */*\r\n\r\n", t.prefix, size.Path, t.addr)
	return &client{t: t, size: size, req: []byte(req)}
}

// do sends one request and reads the whole response. Any failure closes
// the connection; the next request opens a new one.
func (c *client) do(ctx context.Context) error {
	err := c.roundTrip(ctx)
	if err != nil {
		c.close()
	}
	return err
}

func (c *client) roundTrip(ctx context.Context) error {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return err
		}
	}
	c.conn.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := c.conn.Write(c.req); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("read response body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s", resp.Status)
	case n != int64(c.size.Bytes):
		return fmt.Errorf("body of %d bytes, want %d", n, c.size.Bytes)
	}
	if resp.Close {
		c.close()
	}
	return nil
}

func (c *client) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if c.t.tls != nil {
		tc := tls.Client(conn, c.t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	c.conn, c.br = conn, bufio.NewReaderSize(conn, 32<<10)
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// waitReady sends single requests to t until one succeeds, or until
// timeout or exited (a closed channel when the setup's process is gone).
func waitReady(ctx context.Context, t target, timeout time.Duration, exited <-chan struct{}) error {
	c := newClient(t, Sizes[0])
	defer c.close()
	deadline := time.Now().Add(timeout)
	for {
		err := c.do(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("it exited before answering (last attempt: %v)", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %w", timeout, err)
		}
	}
}
