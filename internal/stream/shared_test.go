package stream

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestSharedBuildsOnceWhileHeld: a value is built once for every holder of
// its Memo, however many ask at once, and built again once nobody holds
// it (what it held is garbage then, and its key is forgotten).
func TestSharedBuildsOnceWhileHeld(t *testing.T) {
	var s Shared[string, *[]byte]
	var mu sync.Mutex
	builds := 0
	build := func() *[]byte {
		mu.Lock()
		builds++
		mu.Unlock()
		key := []byte("unsealed")
		return &key
	}

	held := s.Memo("c1@7")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { s.Memo("c1@7").Get(build) })
	}
	wg.Wait()
	held.Get(build)
	if builds != 1 {
		t.Fatalf("%d builds for 101 users while one held the memo, want 1", builds)
	}
	s.Memo("c1@8").Get(build) // another version is another value
	if builds != 2 {
		t.Fatalf("%d builds after a second version, want 2", builds)
	}

	// Nothing uses held from here on, so nothing holds a memo.
	deadline := time.Now().Add(10 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still held after every memo was let go", s.Len())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	s.Memo("c1@7").Get(build)
	if builds != 3 {
		t.Fatalf("%d builds, want the value built again once nobody held it", builds)
	}
}
