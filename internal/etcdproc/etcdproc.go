// Package etcdproc runs an etcd cluster of real etcd processes on
// loopback, for the bench's HA section and the tests that SIGKILL a
// member (its leader) under load. The binary is the etcd server at the
// release the project pins (`make etcd-server` builds it into ./.bin).
package etcdproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Cluster is a cluster of etcd processes, each a Member.
type Cluster struct {
	bin     string
	dir     string
	token   string
	Members []*Member
	initial string
}

// Member is one etcd process: its name and its client and peer URLs.
type Member struct {
	Name, Client, Peer string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// Running reports whether m's process is alive.
func (m *Member) Running() bool {
	if m.exited == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// FindBinary returns the etcd binary to run: path when set, else .bin/etcd
// in the working directory or the nearest parent that has one (what `make
// etcd-server` builds), else etcd on PATH; "" when there is none.
func FindBinary(path string) string {
	if path != "" {
		return path
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, ".bin", "etcd")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return ""
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Start starts an n-member cluster with its data and logs in dir, and
// waits until it has a leader. token names the cluster (etcd's
// --initial-cluster-token).
func Start(ctx context.Context, bin, dir, token string, n int) (*Cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, token: token}
	var initial []string
	for i := range n {
		client, err := freePort()
		if err != nil {
			return nil, err
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &Member{Name: fmt.Sprintf("m%d", i+1), Client: "http://" + client, Peer: "http://" + peer}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.Peer)
	}
	c.initial = strings.Join(initial, ",")
	for _, m := range c.Members {
		if err := c.Restart(m); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if _, err := c.Leader(ctx, 30*time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Restart runs m's process; its data directory is kept across restarts, so
// a member killed earlier rejoins the cluster with what it had.
func (c *Cluster) Restart(m *Member) error {
	if m.Running() {
		return fmt.Errorf("member %s is running", m.Name)
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, m.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(c.bin, "--name", m.Name, "--data-dir", filepath.Join(c.dir, m.Name),
		"--listen-client-urls", m.Client, "--advertise-client-urls", m.Client,
		"--listen-peer-urls", m.Peer, "--initial-advertise-peer-urls", m.Peer,
		"--initial-cluster", c.initial, "--initial-cluster-token", c.token,
		"--initial-cluster-state", "new", "--log-level", "warn")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	m.exited = make(chan struct{})
	go func() {
		m.cmd.Wait()
		logf.Close()
		close(m.exited)
	}()
	return nil
}

// Kill ends m with SIGKILL and waits for it.
func (c *Cluster) Kill(m *Member) {
	if !m.Running() {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

// Stop kills every member still running.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		c.Kill(m)
	}
}

// Endpoints lists every member's client URL.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Client)
	}
	return eps
}

// Client connects to every member.
func (c *Cluster) Client() (*clientv3.Client, error) {
	// The client's own log would be full of the retries a leader kill
	// causes, which the callers count themselves.
	return clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// status asks m alone for its status.
func status(ctx context.Context, m *Member) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.Client}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return cli.Status(sctx, m.Client)
}

// Leader returns the member that leads, asking each running member until
// one answers that it does, for up to timeout.
func (c *Cluster) Leader(ctx context.Context, timeout time.Duration) (*Member, error) {
	deadline := time.Now().Add(timeout)
	var last error = errors.New("no member answered")
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if !m.Running() {
				continue
			}
			st, err := status(ctx, m)
			if err != nil {
				last = err
				continue
			}
			if st.Leader != 0 && st.Header.GetMemberId() == st.Leader {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("etcd cluster has no leader after %v (%v); see the members' logs in %s", timeout, last, c.dir)
}

// Joined waits, for up to timeout, until m answers and knows a leader
// whose raft log it has applied up to the leader's commit index at the
// time of asking: a member restarted after a kill has caught up.
func (c *Cluster) Joined(ctx context.Context, m *Member, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error = errors.New("no answer")
	for time.Now().Before(deadline) {
		leader, err := c.Leader(ctx, time.Until(deadline))
		if err != nil {
			return err
		}
		lst, err := status(ctx, leader)
		if err == nil {
			var st *clientv3.StatusResponse
			if st, err = status(ctx, m); err == nil {
				if st.Leader != 0 && st.RaftAppliedIndex >= lst.RaftIndex {
					return nil
				}
				err = fmt.Errorf("member %s applied %d of %d", m.Name, st.RaftAppliedIndex, lst.RaftIndex)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("member %s did not catch up in %v (%v); see its log in %s", m.Name, timeout, last, c.dir)
}

// DBSize is the largest size of a member's backend database file.
func (c *Cluster) DBSize(ctx context.Context, cli *clientv3.Client) (int64, error) {
	var size int64
	for _, m := range c.Members {
		st, err := cli.Status(ctx, m.Client)
		if err != nil {
			continue
		}
		size = max(size, st.DbSize)
	}
	if size == 0 {
		return 0, errors.New("no member told its database size")
	}
	return size, nil
}
