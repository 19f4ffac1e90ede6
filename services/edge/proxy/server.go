package proxy

import (
	"net/http"
	"time"

	"github.com/certbind/certbind/services/edge/h1"
)

// Server limits. Headers must arrive quickly and be small; bodies have no
// deadline because requests and responses may stream for as long as the
// backend likes, which is also why there is no write timeout.
const (
	ReadHeaderTimeout = 5 * time.Second
	MaxHeaderBytes    = 32 << 10
	IdleTimeout       = 120 * time.Second
)

// NewServer returns the edge's HTTP server for h. A request whose headers
// exceed MaxHeaderBytes is answered 431, and a client that takes longer
// than ReadHeaderTimeout to send them is disconnected.
func NewServer(h http.Handler) *h1.Server {
	return &h1.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       IdleTimeout,
	}
}
