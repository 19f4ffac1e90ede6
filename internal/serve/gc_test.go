package serve

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	// SetGCPercent reports the target it replaces; setting the same one
	// back reads it without changing it.
	current := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }

	t.Run("sets the target and restores the one it replaced", func(t *testing.T) {
		t.Setenv("GOGC", "")
		before := debug.SetGCPercent(123)
		defer debug.SetGCPercent(before)
		restore := TuneGC()
		if got := current(); got != GCPercent {
			t.Fatalf("after TuneGC the target is %d, want %d", got, GCPercent)
		}
		restore()
		if got := current(); got != 123 {
			t.Fatalf("after restore the target is %d, want 123", got)
		}
	})
	t.Run("GOGC in the environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		before := debug.SetGCPercent(150)
		defer debug.SetGCPercent(before)
		restore := TuneGC()
		if got := current(); got != 150 {
			t.Fatalf("with GOGC=150 TuneGC set the target to %d", got)
		}
		restore()
		if got := current(); got != 150 {
			t.Fatalf("with GOGC=150 restore set the target to %d", got)
		}
	})
}
