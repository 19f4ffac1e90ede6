package httpbench

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestReadStat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		pid, ppid  int
		cpu        cpuTime
		ok         bool
	}{
		{"plain", "42 (nginx) S 7 42 42 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 1 0 1 1 1", 42, 7, cpuTime{1500 * time.Millisecond, 250 * time.Millisecond}, true},
		// A name may hold spaces and parentheses of its own.
		{"odd name", "43 (a) b (c)) R 1 43 43 0 -1 0 0 0 0 0 3 4 0 0", 43, 1, cpuTime{30 * time.Millisecond, 40 * time.Millisecond}, true},
		{"short", "44 (x) S 1 2 3", 0, 0, cpuTime{}, false},
		{"no name", "45 S 1", 0, 0, cpuTime{}, false},
		{"bad number", "46 (x) S one 46 46 0 -1 0 0 0 0 0 3 4", 0, 0, cpuTime{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			os.WriteFile(path, []byte(tc.text), 0o644)
			pid, ppid, cpu, ok := readStat(path)
			if ok != tc.ok || ok && (pid != tc.pid || ppid != tc.ppid || cpu != tc.cpu) {
				t.Errorf("readStat(%q) = %d %d %v %v, want %d %d %v %v", tc.text, pid, ppid, cpu, ok, tc.pid, tc.ppid, tc.cpu, tc.ok)
			}
		})
	}
}

func TestTreeCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, ok := treeCPU(os.Getpid())
	if !ok {
		t.Fatal("no CPU time for this process")
	}
	// Spin until the kernel has counted at least two ticks more.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if now, _ := treeCPU(os.Getpid()); now.total()-before.total() >= 2*clockTick {
			return
		}
	}
	t.Error("5 s of spinning did not show in the process's CPU time")
	if _, ok := treeCPU(-1); ok {
		t.Error("a pid of -1 has a CPU time")
	}
}
