package httpbench

import (
	"context"
	"crypto/tls"
)

// The setups, as Row.Setup names them, in the order Run measures them.
const (
	SetupDirect = "direct"
	SetupEdge   = "certbind edge"
	// SetupBaseline is the edge built from another revision of the
	// repository (Config.Baseline), measured beside this one's.
	SetupBaseline = "certbind edge (baseline)"
	SetupNginx    = "nginx"
	SetupCaddy    = "caddy"
)

// Setups lists every setup in the order Run measures them. SetupBaseline
// is measured only when Config.Baseline names a revision.
var Setups = []string{SetupDirect, SetupEdge, SetupBaseline, SetupNginx, SetupCaddy}

// env is what a setup is started with.
type env struct {
	pki     *pki
	backend *backend
	dir     string // the work directory: certificates, configurations, logs
}

// A starter brings a setup up in front of the backend and returns where
// to send requests and how to stop it again.
type starter func(ctx context.Context, e *env) (target, func() error, error)

// namedSetup is a setup Run can start.
type namedSetup struct {
	name  string
	start starter
}

// startDirect is no setup at all: the generator itself presents the client
// certificate to the backend, with session resumption as any client would.
func startDirect(_ context.Context, e *env) (target, func() error, error) {
	cfg := &tls.Config{
		ServerName:         "127.0.0.1",
		RootCAs:            pool(e.pki.backendCA),
		Certificates:       []tls.Certificate{e.pki.clientTLS()},
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	return target{addr: e.backend.addr, tls: cfg}, func() error { return nil }, nil
}
