package changefeed

import (
	"errors"
	"flag"
	"fmt"
	"sync"
)

// Limits bound how many streams a service serves at once. Every open stream
// costs the server two goroutines, a buffer of Options.Buffer pointers, what
// it is sending (a snapshot is the whole store) and gRPC's queue for it.
// Without a bound one key could open streams until the server ran out of
// memory: 3,000 streams of one edge key that never read held 1.96 GB.
//
// The defaults leave a wide margin over real use. An edge holds one stream
// to each service (two in all), so 64 per key lets 64 edges share a key, or
// one edge reconnect many times over before its old streams are noticed
// gone; a key for a larger fleet is a deliberate choice
// (--max-streams-per-key). 4,096 in all is 64 keys' worth. A stream that
// stops reading is cut off after Options.Stall (Watchdog); until then it
// holds up to a snapshot (2.3 MiB each for a 400-certificate store in
// TestStalledSubscribersKeepHeapBounded), and after it gRPC keeps about 250
// KiB queued for it until the client reads or disconnects. 256 per
// connection is four keys' worth on one connection: one edge process needs
// two, and a gRPC client multiplexes what it opens on one connection.
type Limits struct {
	// PerKey is the most streams one API key may hold open. Default 64.
	PerKey int
	// Total is the most streams the service serves at once. Default 4096.
	Total int
	// PerConn is the most streams one gRPC connection may hold open.
	// Default 256.
	PerConn int
}

// The default limits; Limits documents why.
const (
	DefaultStreamsPerKey  = 64
	DefaultStreamsTotal   = 4096
	DefaultStreamsPerConn = 256
)

func (l *Limits) defaults() {
	if l.PerKey <= 0 {
		l.PerKey = DefaultStreamsPerKey
	}
	if l.Total <= 0 {
		l.Total = DefaultStreamsTotal
	}
	if l.PerConn <= 0 {
		l.PerConn = DefaultStreamsPerConn
	}
}

// ErrTooManyStreams is wrapped by every refusal from Admission.Acquire.
var ErrTooManyStreams = errors.New("too many open streams")

// LimitError says which limit refused a stream and what to do about it.
type LimitError struct {
	// Limit is "key", "total" or "connection".
	Limit string
	// Max is the limit that was reached.
	Max int
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "key":
		return fmt.Sprintf("this key already has %d open streams (the limit per key); close unused edges or raise --max-streams-per-key", e.Max)
	case "connection":
		return fmt.Sprintf("this connection already has %d open streams (the limit per connection); open another connection or raise --max-streams-per-conn", e.Max)
	default:
		return fmt.Sprintf("the server already has %d open streams (its limit in total); retry later, close unused edges or raise --max-streams", e.Max)
	}
}

// Unwrap makes errors.Is(err, ErrTooManyStreams) hold.
func (e *LimitError) Unwrap() error { return ErrTooManyStreams }

// Admission counts open streams against Limits. It is safe for concurrent
// use.
type Admission struct {
	limits Limits
	mu     sync.Mutex
	total  int
	byKey  map[string]int
	byConn map[string]int
}

// NewAdmission returns an Admission for l; zero fields take the defaults.
func NewAdmission(l Limits) *Admission {
	l.defaults()
	return &Admission{limits: l, byKey: map[string]int{}, byConn: map[string]int{}}
}

// Limits returns the limits in force, defaults filled in.
func (a *Admission) Limits() Limits { return a.limits }

// Acquire admits one stream for the key and the connection, or returns a
// *LimitError naming the first limit it would exceed. The stream holds its
// place until release is called; calling release again does nothing.
func (a *Admission) Acquire(keyID, connID string) (release func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.byKey[keyID] >= a.limits.PerKey:
		return nil, &LimitError{Limit: "key", Max: a.limits.PerKey}
	case a.byConn[connID] >= a.limits.PerConn:
		return nil, &LimitError{Limit: "connection", Max: a.limits.PerConn}
	case a.total >= a.limits.Total:
		return nil, &LimitError{Limit: "total", Max: a.limits.Total}
	}
	a.total++
	a.byKey[keyID]++
	a.byConn[connID]++
	var once sync.Once
	return func() { once.Do(func() { a.release(keyID, connID) }) }, nil
}

func (a *Admission) release(keyID, connID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	// Counts that reach zero are deleted, so keys and connections that come
	// and go leave nothing behind.
	if a.byKey[keyID]--; a.byKey[keyID] <= 0 {
		delete(a.byKey, keyID)
	}
	if a.byConn[connID]--; a.byConn[connID] <= 0 {
		delete(a.byConn, connID)
	}
}

// Open returns how many streams are open in total and for keyID.
func (a *Admission) Open(keyID string) (total, forKey int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, a.byKey[keyID]
}

// AddLimitFlags adds --max-streams-per-key, --max-streams and
// --max-streams-per-conn to fs, filling l. The error messages of
// Admission.Acquire name these flags.
func AddLimitFlags(fs *flag.FlagSet, l *Limits) {
	fs.IntVar(&l.PerKey, "max-streams-per-key", DefaultStreamsPerKey, "most change streams one API key may hold open (an edge holds one per service)")
	fs.IntVar(&l.Total, "max-streams", DefaultStreamsTotal, "most change streams the service serves at once")
	fs.IntVar(&l.PerConn, "max-streams-per-conn", DefaultStreamsPerConn, "most change streams one gRPC connection may hold open")
}
