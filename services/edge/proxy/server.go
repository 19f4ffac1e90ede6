package proxy

import (
	"net/http"
	"time"
)

// Server limits. Headers must arrive quickly and be small; bodies have no
// deadline because requests and responses may stream for as long as the
// backend likes, which is also why there is no WriteTimeout.
const (
	ReadHeaderTimeout = 5 * time.Second
	MaxHeaderBytes    = 32 << 10
	IdleTimeout       = 120 * time.Second
)

// NewServer returns the edge's HTTP server for h on addr. A request whose
// headers exceed MaxHeaderBytes is answered 431 by net/http itself, and a
// client that takes longer than ReadHeaderTimeout to send them is
// disconnected.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       IdleTimeout,
	}
}
