package proxy_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// reasons records the refusals an edge reports.
type reasons struct {
	mu  sync.Mutex
	got []string
}

func (r *reasons) Request(string, int, time.Duration) {}
func (r *reasons) Handshake(string, bool)             {}
func (r *reasons) Refused(reason string) {
	r.mu.Lock()
	r.got = append(r.got, reason)
	r.mu.Unlock()
}

func (r *reasons) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestBackendBusy holds the only connection a pool may open with a slow
// request: a second request waits for it up to the backend timeout and is
// then answered 503 backend_busy, which is counted as a refusal, and the
// first one still gets its answer.
func TestBackendBusy(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	be := newBackend(t, nil, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Write([]byte("ok"))
	})
	var seen reasons
	e := newEdge(t, nil, func(c *proxy.Config) {
		c.MaxConnsPerBackend, c.BackendTimeout, c.Observer = 1, 300*time.Millisecond, &seen
	})
	e.deploy([]state.Route{forward("/*", be.URL, nil)})
	// Cleanups run last first: this one before the backend's Close, so
	// that a failed check does not leave Close waiting on the handler.
	t.Cleanup(free)

	slow := make(chan response, 1)
	go func() { slow <- e.get(t, "/slow") }()
	// The slow request holds the pool's one connection once the backend
	// has it; until then the second request might take the connection
	// itself, so wait for the slow one to be at the backend.
	deadline := time.Now().Add(5 * time.Second)
	for be.requests.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := e.get(t, "/fast").apiError(t, http.StatusServiceUnavailable, "backend_busy")
	contains(t, "message", got.Message, "busy", "--max-conns-per-backend")
	free()
	if r := <-slow; r.status != http.StatusOK {
		t.Errorf("the slow request got %d, want 200", r.status)
	}
	if got := seen.list(); len(got) != 1 || got[0] != "backend_busy" {
		t.Errorf("refusals reported: %q, want [backend_busy]", got)
	}
}
