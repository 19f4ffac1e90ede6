package serve

import "google.golang.org/grpc"

// Window is the flow-control window, per stream and per connection, of
// every certbind gRPC server and client, fixed rather than sized on the go.
//
// gRPC sizes its windows by estimating the link's bandwidth-delay product,
// and estimates it with a PING after data arrives: on both ends of a small
// unary call that is a ping and its answer each way, about as many system
// calls again as the call itself. certbind's messages are a few KiB (a
// chain is at most 64 KiB), so a window sized on the go gains them nothing.
// Fixed at 1 MiB on both ends, the network system calls of a create fell
// from about 11 to 6 (strace, bench/storebench at 32 clients). In eight
// pairs of runs side by side at 32 clients, creates/s rose 3-24% and CPU
// per create fell 5-21% in seven pairs, and the eighth was 9% slower;
// fixed on the server alone, creates/s rose 2-5% in three pairs. 1 MiB
// still lets one connection move 20 MiB/s over a 50 ms round trip.
const Window = 1 << 20

// GRPCServerOptions returns the transport options every certbind gRPC
// server is made with.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(Window), grpc.StaticConnWindowSize(Window)}
}

// GRPCDialOptions returns the transport options every certbind gRPC client
// dials with.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(Window), grpc.WithStaticConnWindowSize(Window)}
}

// CallsPerConn is how many streams one connection may hold besides its
// change streams: unary calls in flight (the REST facade sends every
// request it serves over one connection) and other streaming calls.
const CallsPerConn = 256

// MaxConcurrentStreams bounds the HTTP/2 streams of one connection, to
// changeStreams (the change streams the server admits per connection, or
// the sum for a server that carries several services) plus CallsPerConn.
//
// A change stream refused or cut off (a subscriber that stopped reading)
// leaves its handler, but gRPC keeps the stream, and what was queued for it
// (about 250 KiB), until the client reads or disconnects: the change
// stream limits no longer count it, and without this bound one connection
// could pile such streams up without end. gRPC counts a stream against
// this bound until its last frame is written, so it bounds those too. A
// client at the bound waits for a stream to end before it opens another.
func MaxConcurrentStreams(changeStreams int) grpc.ServerOption {
	return grpc.MaxConcurrentStreams(uint32(max(changeStreams, 0) + CallsPerConn))
}
