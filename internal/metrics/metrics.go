// Package metrics is what the admin listener of every certbind service
// serves at /metrics: a Prometheus registry holding the Go runtime and
// process figures, the gRPC server and client figures of
// go-grpc-middleware's Prometheus provider, and whatever the service adds
// (store, streams, certificates).
//
//	reg := metrics.New()
//	srv := grpc.NewServer(reg.ServerOptions()...)
//	conn, _ := grpc.NewClient(addr, reg.DialOptions()...)
//	reg.MustRegister(svc.Collectors()...)
//	reg.InitServer(srv)
//	reg.Server().Serve(adminLis)
//
// The admin listener is an operator's surface: its series name accounts,
// projects and certificates of every account, so it binds to loopback by
// default and is never served to API keys.
package metrics

import (
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// Registry is a service's metrics.
type Registry struct {
	*prometheus.Registry
	server *grpcprom.ServerMetrics
	client *grpcprom.ClientMetrics
}

// latencyBuckets spread from half a millisecond to about 16 s: a unary
// call on loopback takes well under a millisecond, a write with its fsync
// a few, a deploy that asks certmgr tens.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// New returns a registry with the runtime, process and gRPC collectors
// registered.
func New() *Registry {
	r := &Registry{
		Registry: prometheus.NewRegistry(),
		server:   grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))),
		client:   grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets))),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), r.server, r.client)
	return r
}

// ServerOptions count every call a gRPC server handles (grpc_server_*),
// refused ones included: put them before the authentication options.
func (r *Registry) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(r.server.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(r.server.StreamServerInterceptor()),
	}
}

// InitServer makes every method registered on srv show with zero counts
// before its first call, so that a rate or an alert has a series to read.
func (r *Registry) InitServer(srv *grpc.Server) { r.server.InitializeMetrics(srv) }

// DialOptions count every call a gRPC client makes (grpc_client_*).
func (r *Registry) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(r.client.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(r.client.StreamClientInterceptor()),
	}
}

// Server returns the admin listener's HTTP server: Handler, with a bound
// on how long a scraper may take to send its request head.
func (r *Registry) Server() *http.Server {
	return &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
}

// Handler serves GET /metrics.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{Registry: r.Registry}))
	return mux
}
