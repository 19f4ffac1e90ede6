package stream

import (
	"runtime"
	"sync"
	"weak"
)

// Shared builds a value once for every subscriber that needs it at about
// the same time. Its values are what the subscribers of a stream send for
// one change or one snapshot item; building one may be costly (certmgr
// unseals a private key for it), and a thousand subscribers would
// otherwise build it a thousand times.
//
// A value lives exactly as long as something holds its Memo: the hub's
// buffers of the subscribers a change was delivered to, a batch of changes
// read from the log while it is being sent, an unfinished snapshot (which
// holds the Memo of every item it has yet to send). Shared itself keeps
// only weak pointers, so once the last holder lets go the value is
// garbage, unsealed key included, and the next subscriber to need it
// builds it again.
type Shared[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[Memo[V]]
}

// Memo is one shared value, built on first use.
type Memo[V any] struct {
	once sync.Once
	v    V
}

// Get returns the value, building it with build on first use.
func (m *Memo[V]) Get(build func() V) V {
	m.once.Do(func() { m.v = build() })
	return m.v
}

// Memo returns the Memo for k: the one a holder still has, or a new one.
func (s *Shared[K, V]) Memo(k K) *Memo[V] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[k]; ok {
		if m := w.Value(); m != nil {
			return m
		}
	}
	if s.m == nil {
		s.m = map[K]weak.Pointer[Memo[V]]{}
	}
	m := &Memo[V]{}
	s.m[k] = weak.Make(m)
	runtime.AddCleanup(m, s.forget, k)
	return m
}

// forget drops k once its Memo is garbage, unless a new one took its place.
func (s *Shared[K, V]) forget(k K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[k]; ok && w.Value() == nil {
		delete(s.m, k)
	}
}

// Len returns how many keys are held.
func (s *Shared[K, V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
