package propagation

import (
	"runtime"
	"runtime/metrics"
	"strings"
)

// memory is the process's live memory after a forced collection.
type memory struct {
	heap   uint64 // live heap objects
	stacks uint64 // goroutine stacks
	// sides splits the memory profile's in-use bytes by the end of the
	// connections that allocated them ("server", "client", or "" when no
	// frame tells; see side). It is only complete for allocations made while
	// runtime.MemProfileRate is 1.
	sides map[string]uint64
}

func measure() memory {
	// Two cycles: the memory profile lags the heap by up to two.
	runtime.GC()
	runtime.GC()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	metrics.Read(samples)
	return memory{
		heap:   samples[0].Value.Uint64(),
		stacks: samples[1].Value.Uint64(),
		sides:  heapBySide(),
	}
}

func heapBySide() map[string]uint64 {
	var records []runtime.MemProfileRecord
	n, ok := runtime.MemProfile(nil, true)
	for !ok {
		// Records may be added between the calls: leave room and retry.
		records = make([]runtime.MemProfileRecord, n+64)
		n, ok = runtime.MemProfile(records, true)
	}
	sides := map[string]uint64{}
	for _, r := range records[:n] {
		sides[side(r.Stack())] += uint64(r.InUseBytes())
	}
	return sides
}

// Frames that tell whose allocation this is. Both ends share gRPC's
// transport code, so side walks out from the allocation to the first frame
// that belongs to one end only.
var (
	serverFrames = []string{
		"/services/certmgr/",
		"grpc.(*Server)", "grpc.(*serverStream)",
		"transport.NewServerTransport", "transport.(*http2Server)",
	}
	clientFrames = []string{
		"/bench/propagation.",
		"grpc.(*ClientConn)", "grpc.(*clientStream)", "grpc.(*csAttempt)", "grpc.newClientStream", "grpc.(*addrConn)",
		"transport.NewHTTP2Client", "transport.(*http2Client)",
	}
)

// side says whether the allocation with this call stack was made for the
// server or the client, or "" when no frame tells.
func side(stack []uintptr) string {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		for _, s := range serverFrames {
			if strings.Contains(f.Function, s) {
				return "server"
			}
		}
		for _, c := range clientFrames {
			if strings.Contains(f.Function, c) {
				return "client"
			}
		}
		if !more {
			return ""
		}
	}
}
