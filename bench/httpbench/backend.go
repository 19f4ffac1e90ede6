package httpbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Size is a response size the backend serves, by the last segment of the
// request path, so that "/small" and "/api/small" (what the edge forwards)
// are the same resource.
type Size struct {
	Name  string // as reported: "small", "64KiB"
	Path  string // "/small", "/64k"
	Bytes int
}

// Sizes are the response sizes measured.
var Sizes = []Size{{Name: "small", Path: "/small", Bytes: 64}, {Name: "64KiB", Path: "/64k", Bytes: 64 << 10}}

// backend is the HTTPS server behind every setup: TLS 1.3 only, a client
// certificate required, HTTP/1.1 with keep-alive. It counts handshakes so
// that each setup can be charged for the connections it makes.
type backend struct {
	addr          string
	srv           *http.Server
	full, resumed atomic.Int64
	// The responses by path, and their headers made once: the backend
	// should cost every setup as little as possible.
	bodies        map[string][]byte
	contentLength map[string][]string
}

var contentType = []string{"application/octet-stream"}

func startBackend(p *pki) (*backend, error) {
	b := &backend{bodies: map[string][]byte{}, contentLength: map[string][]string{}}
	for _, s := range Sizes {
		b.bodies[s.Path] = bytes.Repeat([]byte("x"), s.Bytes)
		b.contentLength[s.Path] = []string{strconv.Itoa(s.Bytes)}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.backendTLS()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(p.clientCA),
		// VerifyConnection runs on every handshake, resumed or not,
		// after the client certificate has been verified.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.DidResume {
				b.resumed.Add(1)
			} else {
				b.full.Add(1)
			}
			return nil
		},
	}
	// HTTP/1.1 only: every setup speaks it to the backend (caddy and a Go
	// client would otherwise negotiate HTTP/2 and not be comparable).
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	b.srv = &http.Server{
		Handler:           b,
		TLSConfig:         cfg,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		// A proxy closing idle connections at shutdown is not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("backend: listen: %w", err)
	}
	b.addr = lis.Addr().String()
	go b.srv.ServeTLS(lis, "", "")
	return b, nil
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		p = p[i:]
	}
	body, ok := b.bodies[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = b.contentLength[p]
	w.Write(body)
}

// handshakes returns how many full and resumed handshakes the backend
// has done since it started.
func (b *backend) handshakes() (full, resumed int64) {
	return b.full.Load(), b.resumed.Load()
}

func (b *backend) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if b.srv.Shutdown(ctx) != nil {
		b.srv.Close()
	}
}
