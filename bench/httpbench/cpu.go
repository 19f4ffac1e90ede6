package httpbench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// which is 100 on every Linux that Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time a process has used, in user space and in the
// kernel (system).
type cpuTime struct{ user, sys time.Duration }

func (c cpuTime) total() time.Duration { return c.user + c.sys }

func (c cpuTime) minus(d cpuTime) cpuTime { return cpuTime{c.user - d.user, c.sys - d.sys} }

// treeCPU returns the CPU time that process pid and its descendants have
// used so far, and false where /proc cannot tell (not Linux, or pid gone).
// nginx does its work in worker processes, which is why the whole tree
// counts.
func treeCPU(pid int) (cpuTime, bool) {
	if pid <= 0 {
		return cpuTime{}, false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return cpuTime{}, false
	}
	parent := map[int]int{}
	cpu := map[int]cpuTime{}
	for _, path := range stats {
		p, ppid, t, ok := readStat(path)
		if ok {
			parent[p], cpu[p] = ppid, t
		}
	}
	if _, ok := cpu[pid]; !ok {
		return cpuTime{}, false
	}
	var total cpuTime
	for p, t := range cpu {
		for q := p; q > 0; q = parent[q] {
			if q == pid {
				total.user += t.user
				total.sys += t.sys
				break
			}
		}
	}
	return total, true
}

// readStat reads a /proc/PID/stat file: the pid, the parent's pid and the
// CPU time used (utime and stime).
func readStat(path string) (pid, ppid int, cpu cpuTime, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, cpuTime{}, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// after it start at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, cpuTime{}, false
	}
	pid, err = strconv.Atoi(string(bytes.TrimSpace(b[:bytes.IndexByte(b, '(')])))
	if err != nil {
		return 0, 0, cpuTime{}, false
	}
	f := bytes.Fields(b[i+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12).
	if len(f) < 13 {
		return 0, 0, cpuTime{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	utime, err2 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err3 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, cpuTime{}, false
	}
	return pid, ppid, cpuTime{time.Duration(utime) * clockTick, time.Duration(stime) * clockTick}, true
}
