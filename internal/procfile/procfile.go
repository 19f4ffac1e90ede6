// Package procfile reads a Procfile: one process a line, "name: command",
// as foreman, honcho and goreman read it. Blank lines and lines starting
// with # are skipped. Names are letters, digits, '-' and '_'; each appears
// once.
package procfile

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Process is one line of a Procfile.
type Process struct {
	Name    string
	Command string
	// Line is the line of the Procfile it was read from (1-based).
	Line int
}

// MaxLine bounds one line of a Procfile, in bytes.
const MaxLine = 64 << 10

// Parse reads a Procfile and returns its processes in order. Any line that
// is not a process, a comment or blank is an error naming its line.
func Parse(r io.Reader) ([]Process, error) {
	var procs []Process
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"name: command\"", n, clip(line))
		}
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if cmd == "" {
			return nil, fmt.Errorf("line %d: process %q has no command", n, name)
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: process %q is already named on line %d (each name once)", n, name, first)
		}
		seen[name] = n
		procs = append(procs, Process{Name: name, Command: cmd, Line: n})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, MaxLine)
		}
		return nil, err
	}
	if len(procs) == 0 {
		return nil, fmt.Errorf("no process: a Procfile has lines of \"name: command\"")
	}
	return procs, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("a process needs a name before ':'")
	}
	if len(name) > 64 {
		return fmt.Errorf("process name %q is longer than 64 characters", clip(name))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("process name %q may hold only letters, digits, '-' and '_'", clip(name))
		}
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
