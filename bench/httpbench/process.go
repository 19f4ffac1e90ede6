package httpbench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is a proxy running as a child process, its output going to a
// log file in the work directory.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process is gone
	err     error         // how it ended, once exited is closed
}

func startProcess(name, dir string, env []string, bin string, args ...string) (*process, error) {
	p := &process{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	out, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p.logPath, err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop asks the process to exit (SIGTERM: both nginx's master and caddy
// then stop their workers) and kills it if it has not within 5s.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had already exited: %v; see %s", p.name, p.err, p.logPath)
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	return nil
}

// tail returns the end of the process's output, for an error message.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.logPath)
	b = bytes.TrimSpace(b)
	if len(b) > 800 {
		b = append([]byte("..."), b[len(b)-800:]...)
	}
	return string(b)
}

// freePort returns a loopback address that was free a moment ago, for a
// child process to listen on.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}
