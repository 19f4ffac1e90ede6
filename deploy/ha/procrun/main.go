// Command procrun runs the processes of a Procfile together, as foreman
// and goreman do, for the local HA topology (make ha): each line's command
// runs under /bin/sh in a process group of its own, its output prefixed
// with its name. Unlike foreman, a process that exits or is killed does not
// stop the others, since killing one is what the topology is for:
//
//	procrun -f deploy/ha/Procfile -env .ha/env -run-dir .ha/run
//	kill -9 $(cat .ha/run/certmgr1.pid)      # the others keep running
//	kill -HUP $(cat .ha/run/procrun.pid)     # start again what is not running
//
// SIGINT or SIGTERM stops every process (SIGTERM, then SIGKILL after 10 s).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/certbind/certbind/internal/procfile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "procrun:", err)
		os.Exit(1)
	}
}

// stopGrace is how long the processes get to stop after SIGTERM.
const stopGrace = 10 * time.Second

func run(args []string) error {
	fs := flag.NewFlagSet("procrun", flag.ContinueOnError)
	file := fs.String("f", "Procfile", "the Procfile")
	envFile := fs.String("env", "", "a file of KEY=VALUE lines added to every process's environment")
	runDir := fs.String("run-dir", "", "directory of NAME.pid for each running process, and procrun.pid (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runDir == "" {
		return errors.New("--run-dir is required")
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	procs, err := procfile.Parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	env := os.Environ()
	if *envFile != "" {
		extra, err := readEnv(*envFile)
		if err != nil {
			return err
		}
		env = append(env, extra...)
	}
	if err := os.MkdirAll(*runDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*runDir, "procrun.pid"), fmt.Appendf(nil, "%d\n", os.Getpid()), 0o600); err != nil {
		return err
	}
	width := 0
	for _, p := range procs {
		width = max(width, len(p.Name))
	}
	s := &supervisor{env: env, runDir: *runDir, width: width, out: os.Stdout, running: map[string]*exec.Cmd{}}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	s.startMissing(procs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			s.startMissing(procs)
			continue
		}
		s.logf("procrun", "%v: stopping every process", sig)
		s.stopAll()
		os.Remove(filepath.Join(*runDir, "procrun.pid"))
		return nil
	}
	return nil
}

// supervisor starts processes and notes which run.
type supervisor struct {
	env    []string
	runDir string
	width  int
	outMu  sync.Mutex
	out    io.Writer

	mu      sync.Mutex
	running map[string]*exec.Cmd
	wg      sync.WaitGroup
}

// startMissing starts every process that is not running.
func (s *supervisor) startMissing(procs []procfile.Process) {
	for _, p := range procs {
		s.mu.Lock()
		_, up := s.running[p.Name]
		s.mu.Unlock()
		if !up {
			s.start(p)
		}
	}
}

func (s *supervisor) start(p procfile.Process) {
	cmd := exec.Command("/bin/sh", "-c", p.Command)
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process that leaves a child holding its output does not hold up
	// Wait for long.
	cmd.WaitDelay = time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		s.logf(p.Name, "did not start: %v", err)
		return
	}
	pidFile := filepath.Join(s.runDir, p.Name+".pid")
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o600); err != nil {
		s.logf(p.Name, "write %s: %v", pidFile, err)
	}
	s.mu.Lock()
	s.running[p.Name] = cmd
	s.mu.Unlock()
	s.logf(p.Name, "started (pid %d)", cmd.Process.Pid)
	s.wg.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			s.logf(p.Name, "%s", sc.Text())
		}
		io.Copy(io.Discard, pr)
	})
	s.wg.Go(func() {
		err := cmd.Wait()
		pw.Close()
		s.mu.Lock()
		if s.running[p.Name] == cmd {
			delete(s.running, p.Name)
			os.Remove(pidFile)
		}
		s.mu.Unlock()
		if err == nil {
			err = errors.New("exit status 0")
		}
		s.logf(p.Name, "exited (%v)", err)
	})
}

// stopAll sends SIGTERM to every process group, then SIGKILL to those
// still running after stopGrace, and waits for them.
func (s *supervisor) stopAll() {
	s.signalAll(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
		s.signalAll(syscall.SIGKILL)
		<-done
	}
}

func (s *supervisor) signalAll(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cmd := range s.running {
		// The negative pid is the process group: the shell and whatever
		// it started.
		syscall.Kill(-cmd.Process.Pid, sig)
	}
}

func (s *supervisor) logf(name, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.out, "%s %-*s | %s\n", time.Now().Format("15:04:05"), s.width, name, line)
}

// readEnv reads KEY=VALUE lines; blank lines and # comments are skipped.
func readEnv(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s line %d: not KEY=VALUE", path, i+1)
		}
		env = append(env, line)
	}
	return env, nil
}
