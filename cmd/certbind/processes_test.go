package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/testpki"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds certbind, certmgr, deploytracker and restapi once.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "certbind-bin")
		if binErr != nil {
			return
		}
		for name, pkg := range map[string]string{
			"certbind":      ".",
			"certmgr":       "github.com/certbind/certbind/services/certmgr/cmd/certmgr",
			"deploytracker": "github.com/certbind/certbind/services/deploytracker/cmd/deploytracker",
			"restapi":       "github.com/certbind/certbind/services/restapi/cmd/restapi",
			"edge":          "github.com/certbind/certbind/services/edge/cmd/edge",
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cluster is certmgr, deploytracker and the REST facade as separate
// processes, with mutual TLS between them.
type cluster struct {
	t                        *testing.T
	bin, dir                 string
	certmgrAddr, trackerAddr string
	restURL                  string
	edgeAddr, edgeAdminAddr  string
	// The admin listeners (/metrics) of certmgr, the deploytracker and
	// the REST facade.
	certmgrAdmin, trackerAdmin, restAdmin string
	edgeKey                               string
	tls                                   peertls.Files
	procs                                 map[string]*exec.Cmd
	adminKey, serviceKey                  string
	// etcd, when set, holds the flags that put certmgr and the
	// deploytracker on etcd instead of bbolt files.
	etcd []string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterOn(t, nil)
}

// startClusterOn starts the cluster with certmgr and the deploytracker on
// the store the flags in etcd name (bbolt files when nil).
func startClusterOn(t *testing.T, etcd []string) *cluster {
	t.Helper()
	c := newCluster(t)
	c.etcd = etcd
	c.start("certmgr")
	c.start("deploytracker")
	c.start("restapi")
	return c
}

// newCluster returns a cluster with its binaries, TLS files, keys and
// addresses, and a master key, that runs no process yet; every process
// it launches is killed when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: binaries(t), dir: t.TempDir(), procs: map[string]*exec.Cmd{},
		certmgrAddr: freeAddr(t), trackerAddr: freeAddr(t), edgeAddr: freeAddr(t), edgeAdminAddr: freeAddr(t),
		certmgrAdmin: freeAddr(t), trackerAdmin: freeAddr(t), restAdmin: freeAddr(t),
		adminKey: "proc-admin-0123456789abcdef0123456789abcdef", serviceKey: "proc-service"}
	ca := testpki.NewCA(t, "certbind services")
	leaf := ca.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NoExtKeyUsage: true})
	write := func(name string, data []byte) string {
		p := filepath.Join(c.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c.tls = peertls.Files{Cert: write("svc.pem", leaf.CertPEM), Key: write("svc.key", leaf.KeyPEM), CA: write("ca.pem", ca.CertPEM)}
	if out, err := exec.Command(filepath.Join(c.bin, "certmgr"), "--init-master-key", "--master-key-file", filepath.Join(c.dir, "master.key")).CombinedOutput(); err != nil {
		t.Fatalf("init master key: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.Process.Kill()
			p.Wait()
		}
	})
	return c
}

func (c *cluster) tlsArgs() []string {
	return []string{"--tls-cert", c.tls.Cert, "--tls-key", c.tls.Key, "--tls-ca", c.tls.CA}
}

// restartCertmgrWith stops certmgr if it runs and starts it with extra flags.
func (c *cluster) restartCertmgrWith(extra ...string) {
	c.t.Helper()
	if p := c.procs["certmgr"]; p != nil {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		delete(c.procs, "certmgr")
	}
	c.startWith("certmgr", extra...)
}

func (c *cluster) start(name string) { c.startWith(name) }

func (c *cluster) startWith(name string, extra ...string) {
	c.t.Helper()
	var args []string
	var addr string
	switch name {
	case "certmgr":
		addr = c.certmgrAddr
		args = append([]string{"--listen", c.certmgrAddr, "--admin-listen", c.certmgrAdmin,
			"--master-key-file", filepath.Join(c.dir, "master.key"), "--deploytracker-addr", c.trackerAddr}, c.storeArgs("certmgr")...)
	case "deploytracker":
		addr = c.trackerAddr
		args = append([]string{"--listen", c.trackerAddr, "--admin-listen", c.trackerAdmin, "--certmgr-addr", c.certmgrAddr,
			"--edge-url", "http://" + c.edgeAddr}, c.storeArgs("deploytracker")...)
	case "edge":
		addr = c.edgeAdminAddr
		// The tests' backends are on loopback, which an edge refuses
		// unless told otherwise.
		args = []string{"--listen", c.edgeAddr, "--admin-listen", c.edgeAdminAddr, "--certmgr-addr", c.certmgrAddr, "--deploytracker-addr", c.trackerAddr,
			"--backend-allow", "127.0.0.0/8"}
	case "restapi":
		rest := freeAddr(c.t)
		addr, c.restURL = rest, "http://"+rest
		args = []string{"--listen", rest, "--admin-listen", c.restAdmin, "--certmgr-addr", c.certmgrAddr, "--deploytracker-addr", c.trackerAddr}
	}
	c.launch(name, name, addr, append(args, extra...))
}

// storeArgs are the flags of a service's store: a data dir under the
// cluster's, or the cluster's etcd flags.
func (c *cluster) storeArgs(service string) []string {
	if c.etcd != nil {
		return c.etcd
	}
	return []string{"--data-dir", filepath.Join(c.dir, service)}
}

// launch starts binary bin as the process name (its log is DIR/name.log)
// with the cluster's TLS and keys, and waits until addr accepts
// connections.
func (c *cluster) launch(name, bin, addr string, args []string) {
	c.t.Helper()
	args = append(args, c.tlsArgs()...)
	cmd := exec.Command(filepath.Join(c.bin, bin), args...)
	cmd.Env = append(os.Environ(), "CERTBIND_ADMIN_KEY="+c.adminKey, "CERTBIND_SERVICE_KEY="+c.serviceKey, "CERTBIND_EDGE_KEY="+c.edgeKey)
	log, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[name] = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(c.dir, name+".log"))
			c.t.Fatalf("%s did not start listening on %s:\n%s", name, addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills a process with SIGKILL, as a crash would.
func (c *cluster) kill9(name string) {
	c.t.Helper()
	p := c.procs[name]
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	p.Wait()
	delete(c.procs, name)
}

// grpc returns a connection to a service with the admin key, over the
// cluster's mutual TLS.
func (c *cluster) grpc(addr string) *grpc.ClientConn {
	c.t.Helper()
	conn, err := c.tls.Dial(addr, "")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

func (c *cluster) admin() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+c.adminKey)
}
