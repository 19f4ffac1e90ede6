package habench

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

// cluster is a 3-member etcd cluster of real etcd processes on loopback.
type cluster struct {
	bin     string
	dir     string
	members []*member
	initial string
}

type member struct {
	name, client, peer string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// findEtcd returns the etcd binary to run: path when set, else ./.bin/etcd
// (what `make etcd` builds), else etcd on PATH; "" when there is none.
func findEtcd(path string) string {
	if path != "" {
		return path
	}
	if fi, err := os.Stat(filepath.Join(".bin", "etcd")); err == nil && !fi.IsDir() {
		abs, _ := filepath.Abs(filepath.Join(".bin", "etcd"))
		return abs
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

// startCluster starts 3 members in dir and waits until they have a leader.
func startCluster(ctx context.Context, bin, dir string) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	var initial []string
	for i := range 3 {
		client, err := freePort()
		if err != nil {
			return nil, err
		}
		peer, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &member{name: fmt.Sprintf("m%d", i+1), client: "http://" + client, peer: "http://" + peer}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	c.initial = strings.Join(initial, ",")
	for _, m := range c.members {
		if err := c.start(m); err != nil {
			c.stop()
			return nil, err
		}
	}
	if _, err := c.leader(ctx, 30*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start runs m's process; its data directory is kept across restarts.
func (c *cluster) start(m *member) error {
	logf, err := os.OpenFile(filepath.Join(c.dir, m.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(c.bin, "--name", m.name, "--data-dir", filepath.Join(c.dir, m.name),
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", c.initial, "--initial-cluster-token", "certbind-bench",
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

// kill ends m with SIGKILL and waits for it.
func (c *cluster) kill(m *member) {
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (c *cluster) stop() {
	for _, m := range c.members {
		if m.cmd != nil {
			select {
			case <-m.exited:
			default:
				c.kill(m)
			}
		}
	}
}

// endpoints lists every member's client URL.
func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client)
	}
	return eps
}

// client connects to every member.
func (c *cluster) client() (*clientv3.Client, error) {
	// The client's own log would fill the report with the retries a
	// leader kill causes, which the bench counts itself.
	return clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// leader returns the member that leads, asking each running member until
// one answers that it does, for up to timeout.
func (c *cluster) leader(ctx context.Context, timeout time.Duration) (*member, error) {
	deadline := time.Now().Add(timeout)
	var last error = errors.New("no member answered")
	for time.Now().Before(deadline) {
		for _, m := range c.members {
			select {
			case <-m.exited:
				continue
			default:
			}
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.client}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				last = err
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, m.client)
			cancel()
			cli.Close()
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

// dbSize is the size of the leader's backend database file.
func (c *cluster) dbSize(ctx context.Context, cli *clientv3.Client) (int64, error) {
	var size int64
	for _, m := range c.members {
		st, err := cli.Status(ctx, m.client)
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
